"""The console's pages as HTML (server-rendered; every value escaped). `console.js` adds the live parts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from switchboard.call_control.schemas import CallDetail, CallSummary, TimelineEntry
from switchboard.common.calls.record import CallStatus
from switchboard.common.profiles import Profile

STATUSES = [status.value for status in CallStatus]


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


def page(title: str, body: str, *, signed_in: bool = True) -> str:
    """A whole page: the head (local assets only), the navigation, `body`."""
    nav = (
        '<nav><a href="/console">Calls</a> <a href="/console/profiles">Profiles</a>'
        '<form method="post" action="/console/sign-out" class="inline"><button>Sign out</button></form></nav>'
        if signed_in
        else ""
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)} · Switchboard</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="stylesheet" href="/console/assets/console.css">'
        '<script src="/console/assets/console.js" defer></script></head>'
        f"<body><header><strong>Switchboard console</strong>{nav}</header><main>{body}</main></body></html>"
    )


def sign_in_page(error: str = "") -> str:
    """The sign-in form: the API key goes in the POST body, never in a URL."""
    message = f'<p class="error" role="alert">{_e(error)}</p>' if error else ""
    return page(
        "Sign in",
        f'<h1>Sign in</h1>{message}<form method="post" action="/console/sign-in" class="sign-in">'
        '<label>API key <input type="password" name="api_key" autocomplete="current-password" required '
        'autofocus></label><button type="submit">Sign in</button></form>',
        signed_in=False,
    )


def _select(name: str, options: Iterable[str], chosen: str) -> str:
    items = "".join(
        f'<option value="{_e(o)}"{" selected" if o == chosen else ""}>{_e(o) or "any"}</option>'
        for o in ["", *options]
    )
    return f'<label>{name} <select name="{name}">{items}</select></label>'


def call_rows(calls: Iterable[CallSummary]) -> str:
    """The rows of the calls table (also sent alone to refresh it live)."""
    rows = []
    for call in calls:
        recording = call.recording
        heard = (
            f"{recording.duration_s:.1f} s" if recording is not None and recording.state != "deleted" else ""
        )
        rows.append(
            f'<tr data-call="{_e(call.call_id)}" data-status="{_e(call.status.value)}">'
            f"<td>{_e(_when(call.created_at))}</td>"
            f'<td><a href="/console/calls/{quote(call.call_id)}">{_e(call.call_id)}</a></td>'
            f"<td>{_e(call.direction)}</td><td>{_e(call.transport)}</td>"
            f'<td class="status">{_e(call.status.value)}</td><td>{_e(call.profile)}</td>'
            f"<td>{_e(call.from_)} → {_e(call.to)}</td><td>{call.duration_s:.1f} s</td><td>{heard}</td></tr>"
        )
    return "".join(rows) or '<tr><td colspan="9">No calls match.</td></tr>'


def calls_page(calls: list[CallSummary], filters: Mapping[str, str], profiles: Iterable[str]) -> str:
    """Live and past calls, newest first, with the filters."""
    form = (
        '<form method="get" action="/console" class="filters">'
        + _select("status", STATUSES, filters.get("status", ""))
        + _select("direction", ["inbound", "outbound"], filters.get("direction", ""))
        + _select("transport", ["twilio", "livekit"], filters.get("transport", ""))
        + _select("profile", sorted(profiles), filters.get("profile", ""))
        + f'<label>since <input type="datetime-local" name="since" value="{_e(filters.get("since", ""))}">'
        "</label><button>Filter</button></form>"
    )
    table = (
        '<table class="calls"><thead><tr><th>Created (UTC)</th><th>Call</th><th>Direction</th><th>Transport</th>'
        "<th>Status</th><th>Profile</th><th>From → to</th><th>Duration</th><th>Recording</th></tr></thead>"
        f'<tbody id="calls" data-live="/console/events">{call_rows(calls)}</tbody></table>'
    )
    return page("Calls", f"<h1>Calls</h1>{form}{table}")


def _entry(entry: TimelineEntry, origin: datetime | None) -> str:
    fields: dict[str, Any] = entry.model_extra or {}
    offset = (entry.at - origin).total_seconds() if origin is not None else None
    seek = f' data-seek="{max(0.0, offset):.2f}" tabindex="0"' if offset is not None else ""
    kind = entry.type
    if kind == "transcript":
        role = fields.get("role", "")
        barge = ' <span class="barge">barge-in: cut off here</span>' if fields.get("interrupted") else ""
        text = f'<span class="role">{_e(role)}</span> {_e(fields.get("text", ""))}{barge}'
        return f'<li class="turn {_e(role)}"{seek}><time>{_e(_when(entry.at))}</time> {text}</li>'
    if kind == "barge_in":
        text = f"caller barged in ({_e(fields.get('played_ms'))} ms of the answer heard)"
    elif kind == "tool_call":
        text = f"tool <code>{_e(fields.get('name'))}</code> {_e(fields.get('arguments'))} → {_e(fields.get('result'))}"
    elif kind == "status":
        text = f"status <b>{_e(fields.get('status'))}</b>"
    elif kind == "ended":
        text = f"ended: <b>{_e(fields.get('reason'))}</b>"
    else:
        shown = {k: v for k, v in fields.items() if k not in ("ts_ns",)}
        text = f"{_e(kind)} {_e(shown) if shown else ''}"
    return f'<li class="event {_e(kind)}"{seek}><time>{_e(_when(entry.at))}</time> {text}</li>'


def timeline(detail: CallDetail) -> str:
    """The call's events, oldest first; turns carry their offset into the recording (`data-seek`)."""
    origin = next((e.at for e in detail.timeline if e.type == "media_started"), None)
    return "".join(_entry(entry, origin) for entry in detail.timeline)


def call_page(detail: CallDetail) -> str:
    """One call: summary, hang-up when live, captured fields, recording with waveform, timeline."""
    live = not detail.status.final
    cid = quote(detail.call_id)
    hangup = (
        f'<form class="hangup" data-action="/console/calls/{cid}/hangup"><button>Hang up</button></form>'
        if live
        else ""
    )
    facts = "".join(
        f"<dt>{name}</dt><dd>{_e(value)}</dd>"
        for name, value in (
            ("Status", detail.status.value),
            ("Direction", detail.direction),
            ("Transport", detail.transport),
            ("Profile", detail.profile),
            ("From → to", f"{detail.from_} → {detail.to}"),
            ("Created", _when(detail.created_at)),
            ("Duration", f"{detail.duration_s:.1f} s"),
            ("Ended reason", detail.ended_reason or "—"),
            ("Outcome", detail.outcome or "—"),
        )
    )
    fields = "".join(
        f"<tr><td>{_e(f.id)}</td><td>{_e(f.value)}</td><td>{'confirmed' if f.confirmed else 'not confirmed'}</td>"
        f"<td>{_e(' / '.join(f.raw))}</td></tr>"
        for f in detail.fields
    )
    captured = (
        "<h2>Captured fields</h2><table><thead><tr><th>Field</th><th>Value</th><th>Confirmation</th>"
        f"<th>Caller said</th></tr></thead><tbody>{fields}</tbody></table>"
        if fields
        else ""
    )
    recording = detail.recording
    player = (
        f'<h2>Recording</h2><p class="legend">top: caller · bottom: what the caller heard · '
        f'{recording.duration_s:.1f} s</p><canvas id="waveform" width="900" height="160"></canvas>'
        f'<audio id="player" controls preload="metadata" src="/console/calls/{cid}/recording" '
        f'data-duration="{recording.duration_s:.3f}"></audio>'
        if recording is not None and recording.state != "deleted"
        else ""
    )
    body = (
        f'<h1>Call <code>{_e(detail.call_id)}</code></h1>{hangup}<dl class="facts">{facts}</dl>{player}'
        f'{captured}<h2>Timeline</h2><ol id="timeline" data-live="/console/events?call_id={cid}">'
        f"{timeline(detail)}</ol>"
    )
    return page(f"Call {detail.call_id}", body)


def profiles_page(profiles: list[tuple[Profile, int]]) -> str:
    """The profiles in use, read-only."""
    rows = "".join(
        f"<tr><td>{_e(p.name)}</td><td>{revision}</td><td>{_e(p.provider)} / {_e(p.model)}</td><td>{_e(p.voice)}</td>"
        f"<td>{_e(p.language)}</td><td>{_e(', '.join(p.tools))}</td><td>{_e(p.recording)}</td>"
        f"<td>{'yes' if p.flow is not None else 'no'}</td><td>{_e(p.greeting)}</td></tr>"
        for p, revision in profiles
    )
    return page(
        "Profiles",
        "<h1>Profiles</h1><table><thead><tr><th>Name</th><th>Revision</th><th>Provider / model</th><th>Voice</th>"
        "<th>Language</th><th>Tools</th><th>Recording</th><th>Flow</th><th>Greeting</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>",
    )
