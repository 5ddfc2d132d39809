# golden: a thin menu over the real tools. `make help` lists the targets.
# Every variable can be overridden on the command line: make image ROLE=chroma
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
GOLDEN := $(VENV)/bin/golden
ROLE ?= app
ENV ?= local
SUITE ?= bookworm
MIRROR ?=
SECURITY_MIRROR ?=
PORT ?= 8080
PYTEST_ARGS ?=
# What scripts/bootstrap.sh sets up: local (make local) or test (make test, CI).
FOR ?= test
# checkov lives in a venv of its own: it pins packaging<24, which salt cannot take.
CHECKOV_VERSION ?= 3.3.30
CHECKOV_VENV ?= .venv-checkov
# The CloudFormation templates make lint checks (cfn-lint and checkov).
STACKS = $(wildcard autoscaling/stacks/*.yaml)
# Every Python file of the tree (tracked or new, not ignored, still present).
PY_FILES = $(shell git ls-files -co --exclude-standard -- '*.py' | while read -r f; do [ -f "$$f" ] && echo "$$f"; done)
export CHECKPOINT_DISABLE := 1
# mkdocs-material prints an advert for its successor on every build.
export NO_MKDOCS_2_WARNING := 1

.DEFAULT_GOAL := help

help: ## List the targets and what they do
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo; echo "Variables: ROLE=$(ROLE) ENV=$(ENV) SUITE=$(SUITE) MIRROR=$(MIRROR) PORT=$(PORT)"

# The dev environment comes from its lock (hash-checked); golden itself is this checkout.
$(VENV)/.installed: pyproject.toml scripts/dev-requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q --require-hashes -r scripts/dev-requirements.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

setup: $(VENV)/.installed ## Create the virtualenv with golden and its dev tools

$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/pip install -q checkov==$(CHECKOV_VERSION)
	touch $@

# Each lock beside its input (.in -> .txt); the dev lock from pyproject.toml's dev extra. The
# wheelhouse serves Ubuntu 22.04's Python 3.10 (onedir) and Debian 12's 3.11 (the twin).
UV_COMPILE = $(VENV)/bin/uv pip compile -q --generate-hashes --universal --no-header
lock: setup ## Re-resolve every lock file (images' and dev) with hashes: uv pip compile
	$(UV_COMPILE) --python-version 3.10 scripts/wheelhouse-requirements.in -o scripts/wheelhouse-requirements.txt
	$(UV_COMPILE) --python-version 3.11 scripts/chroma-requirements.in -o scripts/chroma-requirements.txt
	$(UV_COMPILE) --python-version 3.11 tests/sample_app/backend/requirements.in -o tests/sample_app/backend/requirements.txt
	$(UV_COMPILE) --python-version 3.11 tests/sample_app/frontend/requirements.in -o tests/sample_app/frontend/requirements.txt
	$(UV_COMPILE) --python-version 3.11 examples/fastapi-app/requirements.in -o examples/fastapi-app/requirements.txt
	$(UV_COMPILE) --python-version 3.11 --extra dev pyproject.toml -o scripts/dev-requirements.txt

bootstrap: ## Install and start what make FOR=local|test needs (root), else print the command
	scripts/bootstrap.sh --for $(FOR)

lint: setup $(CHECKOV_VENV)/.installed ## ruff, import contracts, module size, cfn-lint + checkov, packer fmt, actionlint, docs
	$(VENV)/bin/ruff check .
	$(VENV)/bin/actionlint -shellcheck= .github/workflows/*.yml
	$(VENV)/bin/lint-imports
	$(VENV)/bin/cfn-lint $(STACKS)
	@# --skip-download and the two variables: checkov fetches nothing (no guidelines, no
	@# version check); every skip is justified in the template beside the resource.
	CKV_SKIP_PACKAGE_UPDATE_CHECK=true BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov \
		--quiet --compact --skip-download --framework cloudformation $(addprefix -f ,$(STACKS))
	@echo "pylint (no module over 600 lines) on $(words $(PY_FILES)) files"
	@$(VENV)/bin/pylint --rcfile pyproject.toml --score=n $(PY_FILES)
	@if command -v packer >/dev/null; then packer fmt -check -diff packer/; fi
	$(MAKE) --no-print-directory docs

docs: setup ## Build the manual (docs/, MkDocs) into build/site; --strict: a broken link fails
	$(VENV)/bin/mkdocs build --strict --site-dir build/site

base-image: setup ## Build the twin's systemd base image with debootstrap (SUITE, MIRROR, SECURITY_MIRROR)
	$(GOLDEN) base-image --suite $(SUITE) $(if $(MIRROR),--mirror $(MIRROR)) $(if $(SECURITY_MIRROR),--security-mirror $(SECURITY_MIRROR))

image: setup ## Build the twin image for ROLE through the one provisioning path
	$(GOLDEN) twin build --role $(ROLE)

local: FOR = local
local: bootstrap setup ## The main job: stand-ins (PostgreSQL, Redis, Chroma, S3/SSM), the twin image, boot from user data
	$(GOLDEN) local up --port $(PORT)

local-down: setup ## Stop everything `make local` started (data kept in .state/local)
	$(GOLDEN) local down

emulator: setup ## The AWS emulator on 127.0.0.1:5050 for ENV=local bakes and releases (foreground)
	$(VENV)/bin/python -m autoscaling.emulator --port 5050 --step-seconds 1 --seed local

cost: setup ## What ENV costs a month, line by line, against its budget (ENV="staging prod", USAGE=, PRICING=)
	$(GOLDEN) cost $(ENV) $(if $(USAGE),--usage $(USAGE)) $(if $(PRICING),--pricing $(PRICING))

release: setup ## Roll AMI (default latest) through ENV's group for ROLE (ENV=local: the emulator)
	$(GOLDEN) env apply $(ENV) --yes
	$(GOLDEN) release $(ENV) --role $(ROLE) --ami $(or $(AMI),latest)

ami: setup ## Bake ROLE's AMI with Packer: ENV=local offline (needs `make emulator`; a container is the build instance), other ENV on AWS (VAR_FILE=, PACKER_VARS="k=v")
ifeq ($(ENV),local)
	$(GOLDEN) local ami --role $(ROLE)
else
	$(GOLDEN) bake --role $(ROLE) --target aws $(if $(VAR_FILE),--var-file $(VAR_FILE)) $(foreach v,$(PACKER_VARS),--var $(v))
endif

bake-local: setup ## Bake ROLE's twin image with Packer's docker source (same provisioners as ami)
	$(GOLDEN) bake --role $(ROLE) --target local $(foreach v,$(PACKER_VARS),--var $(v))

audit: setup ## lynis, ssh-audit and gixy against the running twin, or an instance of ENV's group (ENV=local ROLE=app)
	$(GOLDEN) audit $(ENV) $(if $(filter-out local,$(ENV)),--role $(ROLE))

rehearsal: setup ## Release rehearsal: real instances behind HAProxy under load, scenarios a-e (SCENARIOS=a,b PORT_REHEARSAL=18480)
	$(GOLDEN) rehearse --scenarios $(or $(SCENARIOS),a,b,c,d,e) --port $(or $(PORT_REHEARSAL),18480)

hotfix: setup ## Apply this checkout's states to the running local twin (golden hotfix local)
	$(GOLDEN) hotfix local --allow-dirty

drift: setup ## Show what on the local twin differs from its state tree (golden drift local)
	$(GOLDEN) drift local

test: bootstrap setup ## Everything CI runs: builds the images, runs the whole suite
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: image ## Load bench: one uvicorn process, the plan's gunicorn layout and the golden image, same load (QUICK=1: 2-min smoke; needs wrk)
	$(GOLDEN) bench load $(if $(QUICK),--quick)

bench-image: image ## Time the base image, highstates and start-to-healthy (prints a table)
	$(GOLDEN) bench image --role $(ROLE)

bench-bake: setup ## Local bake times, one stage vs two (base, then the role --from-base); prints a table
	$(GOLDEN) bench bake
.PHONY: bench-bake

clean: ## Remove build outputs (images stay in Docker)
	rm -rf build

.PHONY: help setup lock bootstrap lint docs base-image image local local-down emulator cost release ami \
	bake-local rehearsal hotfix drift audit test bench bench-image clean
