"""The app's services (pillar ``app:services``) expanded into the containers golden runs.

Each service is declared once (docs/app-contract.md): its image, how it is told its port,
its replicas, health path, stop grace period and nginx routes. This module turns that
declaration into one row per container, the single plan that the compose file, the nginx
config, the reserved ports, golden-app-runtime and golden-app-roll all read
(/etc/app/services.json on an instance). Pure functions over plain data: called from
salt/app/map.jinja as ``golden_app.containers`` and loaded by tests directly."""

HOST = "127.0.0.1"
# How a service is told the port (and address) to listen on: the environment variables
# each mechanism sets; "args" and "env" put {port}/{host} into the service's own args or
# environment instead.
MECHANISMS = ("PORT", "GUNICORN_CMD_ARGS", "UVICORN_PORT", "BIND", "args", "env")
PLACEHOLDERS = ("port", "host", "replica", "graceful_timeout", "keepalive")


def replica_count(service, app):
    """Replicas of one service: its own ``replicas``, or (null) the app-wide
    ``backend_replicas``, which an instance's settings document may override at boot."""
    replicas = service.get("replicas")
    return int(replicas if replicas is not None else app.get("backend_replicas") or 1)


def container_names(name, service, app):
    """``name`` for a service declared with one replica, else ``name-1`` .. ``name-N``."""
    if service.get("replicas") == 1:
        return [name]
    return [f"{name}-{i}" for i in range(1, replica_count(service, app) + 1)]


def env_prefix(name):
    """The prefix of a service's limits in /run/app/limits.env: backend -> BACKEND."""
    return name.upper()


def fill(text, values):
    """``text`` with each {placeholder} of PLACEHOLDERS replaced (others left alone, so
    JSON or shell braces in a value pass through)."""
    text = str(text)
    for key in PLACEHOLDERS:
        text = text.replace("{" + key + "}", str(values[key]))
    return text


def port_environment(mechanism, values, declared):
    """The variables that tell one replica its port under ``mechanism`` (see MECHANISMS).
    ``declared`` is the service's own environment (already filled): a declared
    GUNICORN_CMD_ARGS is appended after golden's arguments, so both apply."""
    host, port = values["host"], values["port"]
    if mechanism == "PORT":
        # Next.js standalone listens on HOSTNAME (Docker sets it to the host's name) and
        # keeps idle connections KEEP_ALIVE_TIMEOUT ms (Node's default, 5 s, is shorter
        # than nginx's upstream keep-alive: nginx would reuse connections Node closed).
        return {"PORT": str(port), "HOST": host, "HOSTNAME": host,
                "KEEP_ALIVE_TIMEOUT": str(values["keepalive"] * 1000)}
    if mechanism == "BIND":
        return {"BIND": f"{host}:{port}"}
    if mechanism == "UVICORN_PORT":
        return {"UVICORN_HOST": host, "UVICORN_PORT": str(port),
                "UVICORN_TIMEOUT_KEEP_ALIVE": str(values["keepalive"]),
                "UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN": str(values["graceful_timeout"])}
    if mechanism == "GUNICORN_CMD_ARGS":
        args = (f"--bind {host}:{port} --graceful-timeout {values['graceful_timeout']} "
                f"--keep-alive {values['keepalive']}")
        extra = declared.get("GUNICORN_CMD_ARGS")
        return {"GUNICORN_CMD_ARGS": f"{args} {extra}" if extra else args}
    return {}


def _compose_text(value):
    """Compose interpolates ${...} in the file: a literal $ is written $$."""
    return str(value).replace("$", "$$")


def containers(app):
    """One dict per container, services in name order, replicas in order.

    ``app`` is the app formula's merged settings: ``services`` (name -> spec, the schema's
    shape), ``backend_replicas`` and ``chain`` (the timeout chain, seconds). Each row:
    name, service, image (a key of app:images), port (None: a worker), health_path,
    routes, stop_grace (seconds), workers, settings, scratch, prefix, memory_mb,
    environment (name -> text, ready for the compose file), entrypoint and command (lists
    or None: the image's own ENTRYPOINT / CMD)."""
    chain = app["chain"]
    rows = []
    for name, service in sorted((app.get("services") or {}).items()):
        base = service.get("port")
        names = container_names(name, service, app)
        for index, container in enumerate(names):
            port = None if base is None else int(base) + index
            values = {"port": port, "host": HOST, "replica": container,
                      "graceful_timeout": chain["gunicorn_graceful"],
                      "keepalive": chain["gunicorn_keepalive"]}
            declared = {k: fill(v, values) for k, v in (service.get("environment") or {}).items()}
            env = {"REPLICA_NAME": container, **declared}
            if port is not None:
                env.update(port_environment(service.get("port_mechanism"), values, declared))
            args = service.get("args")
            rows.append({
                "name": container,
                "service": name,
                "image": service["image"],
                "port": port,
                "health_path": service.get("health_path") if port is not None else None,
                "routes": list(service.get("routes") or []) if port is not None else [],
                "stop_grace": int(service.get("stop_grace_seconds") or chain["stop_grace"]),
                "workers": bool(service.get("workers")),
                "settings": bool(service.get("settings", True)),
                "scratch": bool(service.get("scratch", True)),
                "prefix": env_prefix(name),
                "memory_mb": service.get("memory_mb"),
                "environment": {k: _compose_text(v) for k, v in env.items()},
                "entrypoint": [_compose_text(a) for a in service["command"]]
                if service.get("command") else None,
                "command": [_compose_text(fill(a, values)) for a in args] if args else None,
            })
    return rows


def upstreams(rows):
    """nginx's view: {service: [port, ...]} of every service with a port, in order."""
    out = {}
    for row in rows:
        if row["port"] is not None:
            out.setdefault(row["service"], []).append(row["port"])
    return out


def routes(rows):
    """[(prefix, service), ...] of every route, longest prefix first (nginx picks the
    longest matching prefix anyway; the order keeps the rendered file stable)."""
    found = {}
    for row in rows:
        for prefix in row["routes"]:
            found[prefix] = row["service"]
    return sorted(found.items(), key=lambda item: (-len(item[0]), item[0]))


def ports(rows):
    """Sorted ports of every container (the app's part of the reserved ports)."""
    return sorted(row["port"] for row in rows if row["port"] is not None)


def runtime_plan(app, rows):
    """What golden-app-runtime and golden-app-roll read (/etc/app/services.json):
    per service its replicas, whether it takes WEB_CONCURRENCY, its fixed memory share,
    the path prefixes nginx routes to it (what the image tests check);
    per container its port, health path, stop grace and whether nginx's /healthz answers
    from it (the ``healthz_service``)."""
    services = {}
    for row in rows:
        entry = services.setdefault(row["service"], {
            "name": row["service"], "prefix": row["prefix"], "replicas": 0,
            "workers": row["workers"], "memory_mb": row["memory_mb"],
            "routes": row["routes"]})
        entry["replicas"] += 1
    return {
        "services": list(services.values()),
        "containers": [
            {"name": row["name"], "service": row["service"], "port": row["port"],
             "health_path": row["health_path"], "stop_grace": row["stop_grace"],
             "healthz": row["service"] == app.get("healthz_service")}
            for row in rows
        ],
    }
