"""Pillar validation for the golden state tree.

Called from top.sls so that a pillar with a wrong type, a missing required key or an
unknown role stops the highstate before any state runs, with messages naming the key
(``a:b:c``). What pillar may hold is described once, in the JSON Schema
schemas/pillar.schema.json, which travels with the state tree (salt/ + pillar/ +
schemas/); this module checks a pillar against it with the jsonschema library and adds
what a schema cannot say: keys that look like secrets, the role grain, the ports of
the chroma role, and the app's declared services taken together (ports, routes, image
keys, the port mechanisms' placeholders)."""

import json
import os

SCHEMA_FILE = "pillar.schema.json"
# Pillar keys that hold secrets never belong here (they come from SSM at boot).
FORBIDDEN_WORDS = ("password", "secret", "token", "private_key", "access_key")
# The chroma formula's own default (salt/chroma/defaults.yaml).
DEFAULT_PROXY_PORT = 8000
# The app formula's defaults (salt/app/defaults.yaml): the sample app's image keys, the
# replicas of a service declared with replicas: null, the service behind /healthz; and
# nginx's own ports (salt/nginx/defaults.yaml: status_port), which no service may take.
DEFAULT_IMAGES = ("backend", "frontend")
DEFAULT_REPLICAS = 2
DEFAULT_HEALTHZ_SERVICE = "backend"
DEFAULT_STATUS_PORT = 8081

_TYPE_WORDS = {"array": "list", "object": "mapping"}
# When one key breaks several rules, the most basic one is reported.
_RANK = {"type": 0, "required": 1, "additionalProperties": 2}
_SECRET = -1


def schema_path(file_roots=None):
    """Where the pillar schema is: ``<parent of the first salt file root>/schemas/`` (an
    instance's /srv/salt -> /srv/schemas, a hotfix's trees/X/salt -> trees/X/schemas).
    Without ``file_roots`` (``{saltenv: [dir, ...]}`` as in Salt's opts), the schemas/
    folder beside this file's salt/ (the repository, when tests load this file)."""
    roots = (file_roots or {}).get("base") or next(iter((file_roots or {}).values()), None)
    if roots:
        salt_dir = os.path.realpath(roots[0])
    else:
        salt_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(os.path.dirname(salt_dir), "schemas", SCHEMA_FILE)


def load_schema(path=None):
    """The parsed schema at ``path`` (default: see schema_path). OSError or ValueError
    when it is missing or not JSON."""
    with open(path or schema_path(), encoding="utf-8") as handle:
        return json.load(handle)


def check(pillar, role_grain=None, schema=None):
    """Pure check of a pillar dict against ``schema`` (the parsed pillar schema; default:
    load_schema()). Returns a list of problems, each ``"key:path: what is wrong"`` (empty
    = valid): schema problems sorted by key, then the checks across keys."""
    if schema is None:
        schema = load_schema()
    secrets = dict(_secret_keys(pillar, schema))
    found = {}
    for error in _validator(schema).iter_errors(pillar):
        rank = _RANK.get(error.validator, len(_RANK))
        for path, message in _messages(error):
            # A secret-looking key is reported as that, not as unknown or of a wrong type.
            if any(path[: len(secret)] == secret for secret in secrets):
                continue
            if path not in found or rank < found[path][0]:
                found[path] = (rank, message)
    found.update({path: (_SECRET, message) for path, message in secrets.items()})
    listed = [f"{_key(path)}: {found[path][1]}" for path in sorted(found, key=_sort_key)]
    return (listed + _role_problems(pillar, role_grain, schema)
            + _chroma_port_problems(pillar) + app_service_problems(pillar))


def problems():
    """Problems of this minion's pillar, as strings naming the key."""
    opts = __opts__  # noqa: F821
    path = schema_path(opts.get("file_roots"))
    try:
        schema = load_schema(path)
    except (OSError, ValueError) as exc:
        return [
            f"{path}: the pillar schema cannot be read ({exc}); salt/, pillar/ and "
            f"schemas/ are one state tree and travel together"
        ]
    try:
        return check(dict(__pillar__), __grains__.get("role"), schema)  # noqa: F821
    except ImportError:
        return [
            "jsonschema is not installed in Salt's Python: the pillar cannot be checked "
            "(the image installs it from scripts/wheelhouse-requirements.txt)"
        ]


def without_nulls(section, keep=()):
    """A formula's pillar ``section`` (a mapping, or None when the pillar sets none) as
    its map.jinja merges it over the formula's defaults: every key set to null left out,
    at any depth, so that null means the formula's default, as the schema says (Salt's
    slsutil.merge would put None over the default). A key named in ``keep`` (top level)
    keeps its value as written, nulls inside included: there a null means something
    (app:services, where `port: null` is a background worker). Lists are kept as they are.
    Returns a new dict; the pillar is not changed."""
    if section is None:
        return {}
    return {
        key: value if key in keep else _drop_nulls(value)
        for key, value in section.items()
        if value is not None
    }


def _drop_nulls(value):
    if not isinstance(value, dict):
        return value
    return {key: _drop_nulls(item) for key, item in value.items() if item is not None}


# -- jsonschema's errors as messages naming the key -------------------------------------------
def _validator(schema):
    import jsonschema

    # YAML tells 2 from 2.0; JSON Schema's "integer" would take both, pillar only 2.
    types = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool)
    )
    return jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=types)(schema)


def _messages(error):
    """(key path, message) for one jsonschema error. required and additionalProperties
    errors are about keys of the mapping they are reported on, propertyNames errors
    about one of its keys."""
    path = tuple(error.absolute_path)
    if "propertyNames" in error.schema_path:
        path += (error.instance,)
    if error.validator == "required":
        for key in (k for k in error.validator_value if k not in error.instance):
            yield path + (key,), _missing(path, error)
    elif error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        for key in sorted((k for k in error.instance if k not in known), key=str):
            yield path + (key,), "unknown key"
    else:
        yield path, _expected(error)


def _missing(path, error):
    message = "required key is missing" if path else "required section is missing"
    # A conditional requirement (then: required) says when it applies.
    conditional = list(error.schema_path)[-2:-1] == ["then"]
    condition = error.schema.get("description") if conditional else None
    return f"{message} ({condition})" if condition else message


def _expected(error):
    kind, rule, schema, value = error.validator, error.validator_value, error.schema, error.instance
    got = f"got {type(value).__name__} {value!r}"
    if kind == "type" and schema.get("errorMessage"):
        return f"{schema['errorMessage']}, {got}"
    if kind == "type":
        kinds = [rule] if isinstance(rule, str) else [k for k in rule if k != "null"]
        if kinds == ["object"]:
            return f"expected a mapping, got {type(value).__name__}"
        return f"expected {' or '.join(_TYPE_WORDS.get(k, k) for k in kinds)}, {got}"
    if kind == "enum":
        return f"expected {_alternatives([v for v in rule if v is not None])}, got {value!r}"
    if kind in ("minimum", "maximum"):
        return f"expected {_bounds(schema.get('minimum'), schema.get('maximum'))}, got {value}"
    if kind == "pattern":
        return f"{schema.get('patternErrorMessage') or 'expected text matching ' + rule}, " \
               f"got {value!r}"  # fmt: skip
    return error.message


def _alternatives(values):
    shown = [repr(v) for v in values]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def _bounds(low, high):
    if low is not None and high is not None:
        return f"{low}..{high}"
    return f"at least {low}" if high is None else f"at most {high}"


def _key(path):
    return ":".join(str(part) for part in path)


def _sort_key(path):
    return tuple(str(part) for part in path)


# -- what a schema cannot say ------------------------------------------------------------------
def _secret_keys(pillar, schema):
    """(path, message) of every key that looks like a secret, in the sections the schema
    knows, at any depth of mappings."""
    stack = [((name,), pillar[name]) for name in schema["properties"] if name in pillar]
    while stack:
        path, value = stack.pop()
        if not isinstance(value, dict):
            continue
        for key, sub in value.items():
            if any(word in str(key).lower() for word in FORBIDDEN_WORDS):
                yield path + (key,), "secrets do not belong in pillar (use SSM Parameter Store)"
            else:
                stack.append((path + (key,), sub))


def _role_problems(pillar, role_grain, schema):
    """The role grain must be a known role and match golden:role."""
    roles = schema["properties"]["golden"]["properties"]["role"]["enum"]
    golden = pillar.get("golden")
    role = golden.get("role") if isinstance(golden, dict) else None
    if role_grain is not None and role_grain not in roles:
        return [f"grain role: unknown role {role_grain!r}, expected one of {', '.join(roles)}"]
    if role_grain and role in roles and role != role_grain:
        return [f"golden:role: {role!r} does not match the role grain {role_grain!r}"]
    return []


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _chroma_port_problems(pillar):
    """The proxy and Chroma cannot share a port, and on role chroma the firewall must
    open the proxy's."""
    chroma = pillar.get("chroma")
    if not isinstance(chroma, dict):
        return []
    found = []
    port, proxy_port = chroma.get("port"), chroma.get("proxy_port")
    if _is_int(port) and port == proxy_port:
        found.append(f"chroma:proxy_port: must differ from chroma:port ({port})")
    golden, hardening = pillar.get("golden"), pillar.get("hardening")
    if isinstance(golden, dict) and golden.get("role") == "chroma":
        proxy_port = proxy_port if _is_int(proxy_port) else DEFAULT_PROXY_PORT
        opened = hardening.get("extra_tcp_ports") if isinstance(hardening, dict) else None
        if isinstance(opened or [], list) and proxy_port not in (opened or []):
            found.append(
                f"hardening:extra_tcp_ports: must include chroma:proxy_port "
                f"({proxy_port}) or no client can reach the proxy"
            )
    return found


# -- the app's services taken together ----------------------------------------------------------
def app_service_problems(pillar):
    """What the schema cannot say about app:services (docs/app-contract.md): each problem
    ``"app:...: what is wrong, what was expected"``. Pure; entries of a wrong shape are left
    to the schema's messages."""
    app = pillar.get("app")
    if not isinstance(app, dict):
        return []
    services = app.get("services")
    if not isinstance(services, dict) or not services:
        return _image_problems(app, {name: {"image": name} for name in DEFAULT_IMAGES})
    services = {n: s for n, s in services.items() if isinstance(s, dict)}
    found = []
    for name, spec in sorted(services.items()):
        found += _service_problems(name, spec)
    found += _port_overlaps(app, services, pillar.get("nginx"))
    found += _route_overlaps(services)
    found += _healthz_problems(app, services)
    return found + _image_problems(app, services)


def _service_problems(name, spec):
    """One service on its own: a worker (port null) has no probe and no route; a service
    with a port says how it is told it, and the args/env mechanisms carry {port}."""
    key = f"app:services:{name}"
    if spec.get("port") is None:
        return [f"{key}:{field}: a service without a port (a worker) has nothing to "
                f"{what}: expected null" for field, what in
                (("routes", "route to"), ("health_path", "probe"))
                if spec.get(field)]  # fmt: skip
    mechanism = spec.get("port_mechanism")
    if mechanism is None:
        return [f"{key}:port_mechanism: required key is missing (when port is set: how the "
                "service is told its port)"]
    if mechanism == "args" and not any("{port}" in str(a) for a in spec.get("args") or []):
        return [f"{key}:args: expected {{port}} in an argument (port_mechanism args)"]
    if mechanism == "env" and not any("{port}" in str(v)
                                      for v in (spec.get("environment") or {}).values()):
        return [f"{key}:environment: expected {{port}} in a value (port_mechanism env)"]
    return []


def _replicas(app, spec):
    """The service's replicas, or None when the schema refuses them (reported there)."""
    replicas = spec.get("replicas")
    if replicas is None:
        replicas = app.get("backend_replicas")
        replicas = replicas if _is_int(replicas) and replicas >= 1 else DEFAULT_REPLICAS
    return replicas if _is_int(replicas) and replicas >= 1 else None


def _port_overlaps(app, services, nginx):
    """Every replica needs its own port, none of nginx's (80, 443, its status port)."""
    nginx = nginx if isinstance(nginx, dict) else {}
    status = nginx.get("status_port") if _is_int(nginx.get("status_port")) else DEFAULT_STATUS_PORT
    taken = {80: "nginx", 443: "nginx", status: "nginx:status_port"}
    found = []
    for name, spec in sorted(services.items()):
        first, replicas = spec.get("port"), _replicas(app, spec)
        # Values the schema refuses are reported there, once.
        if not (_is_int(first) and 1024 <= first <= 65535 and replicas):
            continue
        ports = range(first, first + replicas)
        clash = sorted({taken[p] for p in ports if p in taken})
        if ports[-1] > 65535:
            found.append(f"app:services:{name}:port: its replicas would need ports up to "
                         f"{ports[-1]}, expected at most 65535")
        elif clash:
            found.append(f"app:services:{name}:port: its replicas use ports {ports[0]}-"
                         f"{ports[-1]}, which {', '.join(clash)} already use(s): expected a "
                         "range of its own")
        taken.update({p: name for p in ports if p not in taken})
    return found


def _route_overlaps(services):
    """A location prefix goes to one service (so at most one is routed at /)."""
    owner, found = {}, []
    for name, spec in sorted(services.items()):
        for prefix in spec.get("routes") or []:
            if prefix in owner:
                found.append(f"app:services:{name}:routes: {prefix!r} is already routed to "
                             f"{owner[prefix]}: expected each prefix once")
            owner.setdefault(prefix, name)
    return found


def _healthz_problems(app, services):
    name = app.get("healthz_service") or DEFAULT_HEALTHZ_SERVICE
    spec = services.get(name)
    if spec is None:
        return [f"app:healthz_service: {name!r} is not a service of app:services: expected "
                f"one of {', '.join(sorted(services))}"]
    if spec.get("port") is None or not spec.get("health_path"):
        return [f"app:healthz_service: {name!r} has no port or no health_path: expected a "
                "service nginx's /healthz can ask"]
    return []


def _image_problems(app, services):
    """registry: every image key a service names is pinned in app:images."""
    images = app.get("images")
    if app.get("image_source") != "registry" or not isinstance(images, dict):
        return []
    found = []
    for name, spec in sorted(services.items()):
        image = spec.get("image")
        if isinstance(image, str) and image not in images:
            found.append(f"app:images:{image}: required key is missing (app:services:{name} "
                         "runs it; image_source is registry)")
    return sorted(set(found))
