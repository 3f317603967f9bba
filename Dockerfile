# One image for web, worker and beat (docker-compose.yml). Assets come from the npm registry at
# build time and are served by WhiteNoise: no CDN at run time.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml ./
RUN pip install --no-cache-dir -e . 2>/dev/null || true
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
RUN pip install --no-cache-dir -e . && SECRET_KEY=build DEBUG=false python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "familylink.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
