# The provider emulators (switchboard-sim) for docker-compose.yml, one image for the three; each compose service
# runs one of them: python -m switchboard.sim.twilio_rest | openai_realtime | gemini_live.
# Build from the repository root: docker build -f deploy/emulators.Dockerfile .
FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
COPY . .
RUN uv sync --frozen --no-dev --no-editable --package switchboard-sim

FROM python:3.11-slim
RUN useradd --system --uid 10001 switchboard
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1
USER switchboard
# 9400: Twilio REST (and its simulated phones' control API), 9401: OpenAI Realtime, 9402: Gemini Live (TLS)
EXPOSE 9400 9401 9402
CMD ["python", "-m", "switchboard.sim.twilio_rest", "--help"]
