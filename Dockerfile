# One image for web, worker and beat (docker-compose.yml). Assets come from the npm registry at
# build time and are served by WhiteNoise: no CDN at run time. Python packages come from
# requirements-prod.lock: pinned with hashes, the same versions as requirements.lock without the dev
# tools (`make lock` regenerates both from pyproject.toml).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml requirements-prod.lock ./
# Refuse a lock that pyproject.toml's dependencies no longer match (the same check as `make lock-check`).
RUN python -c 'import hashlib, json, sys, tomllib; \
p = tomllib.load(open("pyproject.toml", "rb"))["project"]; \
want = hashlib.sha256(json.dumps([p.get(k) for k in ("requires-python", "dependencies", "optional-dependencies")], sort_keys=True).encode()).hexdigest(); \
have = open("requirements-prod.lock").readline().split(":")[-1].strip(); \
sys.exit(0 if want == have else "requirements-prod.lock is out of date with pyproject.toml: run make lock and commit it")'
RUN pip install --no-cache-dir --require-hashes -r requirements-prod.lock
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
RUN pip install --no-cache-dir --no-deps -e . && SECRET_KEY=build DEBUG=false python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "familylink.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
