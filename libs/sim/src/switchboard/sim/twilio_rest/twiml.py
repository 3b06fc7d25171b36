"""TwiML voice documents, parsed into the verbs the emulator runs.

Supported: `<Connect><Stream url><Parameter name value/></Stream></Connect>` (with `Connect action`),
`<Say>`, `<Pause length>`, `<Dial>` (a number as text, or `<Number>` children), `<Redirect>`, `<Hangup/>` and
`<Reject reason/>`. Any other verb is kept as `Unsupported` so a test can see it, and is skipped when run.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field


class TwimlError(ValueError):
    """The document is not TwiML Twilio could run (Twilio reports error 12100, document parse failure)."""


@dataclass(frozen=True, slots=True)
class Stream:
    """`<Connect><Stream>`: a bidirectional Media Stream to `url`, with `<Parameter>`s."""

    url: str
    parameters: dict[str, str] = field(default_factory=dict)
    name: str = ""
    status_callback: str = ""
    action: str = ""


@dataclass(frozen=True, slots=True)
class Say:
    """`<Say>`: text spoken to the callee."""

    text: str
    voice: str = ""
    language: str = ""


@dataclass(frozen=True, slots=True)
class Pause:
    """`<Pause length>` in seconds (default 1)."""

    length_s: float = 1.0


@dataclass(frozen=True, slots=True)
class Dial:
    """`<Dial>`: connect the call to other numbers (a transfer when it replaces a running document)."""

    numbers: tuple[str, ...]
    caller_id: str = ""
    timeout_s: int = 30
    action: str = ""


@dataclass(frozen=True, slots=True)
class Redirect:
    """`<Redirect>`: fetch the next document from `url`."""

    url: str
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class Hangup:
    """`<Hangup/>`: end the call."""


@dataclass(frozen=True, slots=True)
class Reject:
    """`<Reject/>`: refuse an incoming call without answering it."""

    reason: str = "rejected"


@dataclass(frozen=True, slots=True)
class Unsupported:
    """A verb the emulator does not run (kept for inspection)."""

    name: str


Verb = Stream | Say | Pause | Dial | Redirect | Hangup | Reject | Unsupported


def _text(element: ElementTree.Element) -> str:
    return (element.text or "").strip()


def _number(value: str | None, default: float, what: str) -> float:
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError as e:
        raise TwimlError(f"{what} is not a number: {value!r}") from e


def _stream(connect: ElementTree.Element) -> Verb:
    streams = [child for child in connect if child.tag == "Stream"]
    if len(streams) != 1:
        return Unsupported("Connect/" + "+".join(child.tag for child in connect))
    stream = streams[0]
    url = stream.get("url", "")
    if not url:
        raise TwimlError("<Stream> without a url")
    if "?" in url:
        raise TwimlError(f"<Stream url> must not carry a query string (use <Parameter>): {url}")
    parameters: dict[str, str] = {}
    for parameter in stream:
        if parameter.tag != "Parameter":
            raise TwimlError(f"<Stream> may only contain <Parameter>, not <{parameter.tag}>")
        name = parameter.get("name")
        if not name:
            raise TwimlError("<Parameter> without a name")
        parameters[name] = parameter.get("value", "")
    return Stream(
        url=url,
        parameters=parameters,
        name=stream.get("name", ""),
        status_callback=stream.get("statusCallback", ""),
        action=connect.get("action", ""),
    )


def _dial(element: ElementTree.Element) -> Dial:
    numbers = tuple(_text(child) for child in element if child.tag == "Number")
    if not numbers and _text(element):
        numbers = (_text(element),)
    if not numbers:
        raise TwimlError("<Dial> without a number")
    return Dial(
        numbers=numbers,
        caller_id=element.get("callerId", ""),
        timeout_s=int(_number(element.get("timeout"), 30, "<Dial timeout>")),
        action=element.get("action", ""),
    )


def _verb(element: ElementTree.Element) -> Verb:
    tag = element.tag
    if tag == "Connect":
        return _stream(element)
    if tag == "Say":
        return Say(_text(element), voice=element.get("voice", ""), language=element.get("language", ""))
    if tag == "Pause":
        return Pause(_number(element.get("length"), 1.0, "<Pause length>"))
    if tag == "Dial":
        return _dial(element)
    if tag == "Redirect":
        if not _text(element):
            raise TwimlError("<Redirect> without a URL")
        return Redirect(_text(element), element.get("method", "POST").upper())
    if tag == "Hangup":
        return Hangup()
    if tag == "Reject":
        return Reject(element.get("reason", "rejected"))
    return Unsupported(tag)


def parse_twiml(document: str) -> list[Verb]:
    """The verbs of a `<Response>` document, in order; raises `TwimlError` when Twilio could not run it."""
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError as e:
        raise TwimlError(f"not well-formed XML: {e}") from e
    if root.tag != "Response":
        raise TwimlError(f"the root element must be <Response>, not <{root.tag}>")
    return [_verb(element) for element in root]
