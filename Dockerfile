# paperbot: the Discord bot with the bundled 50-paper corpus inside.
# Mirrors the README: install the package, keep the store in a volume, run the bot.
#   docker build -t paperbot .
#   docker run -e PAPERBOT_DISCORD_TOKEN=... -v paperbot-data:/data paperbot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PAPERBOT_DATA_DIR=/data

RUN useradd --create-home --uid 10001 paperbot \
    && mkdir -p /data \
    && chown paperbot:paperbot /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY config ./config
COPY retrieval ./retrieval
COPY bot ./bot
COPY cli ./cli
RUN pip install --no-cache-dir .

USER paperbot
VOLUME ["/data"]
# The first start creates /data/paperbot.db from the bundled corpus and indexes it.
CMD ["paperbot", "run"]
