"""Domain errors: what went wrong, in words the caller can act on, independent of HTTP.

Every refusal the service makes is a `DomainError` of one of a few kinds (refused, not
found, forbidden, conflict, too large, unavailable, and the two a request's envelope can
earn: unauthenticated and malformed). Each carries a stable `code` (clients branch on it;
it never changes with the wording), the parameters its message needs, and optionally the
exact places to fix (`errors`, each a path like `rule.all[1].value` and a message).

Feature modules raise their own `FeatureRefusal`s (an order's field, a template's line),
which `broadcaster.api.refusals` maps to `DomainError`s in one table.

The texts live in one catalog (`broadcaster.catalog`, gettext via Babel) in Japanese and
English; an error is turned into words only when it is shown, in the reader's language.
The API maps errors to RFC 9457 problem details in exactly one handler
(`broadcaster.api.problems`); the console and the CLI call `describe` for the sentence
and `field_messages` for the message beside each field of a form.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar


class Kind(Enum):
    """What sort of refusal this is; the value is the HTTP status the API answers with."""

    malformed = 400  # the request's envelope cannot be read (bad JSON, nested too deep)
    unauthenticated = 401
    forbidden = 403
    not_found = 404
    conflict = 409
    too_large = 413
    refused = 422  # well-formed, but the content cannot be accepted
    unavailable = 503

    @property
    def status(self) -> int:
        return self.value


@dataclass(frozen=True)
class FieldError:
    """One place to fix: `path` in the request (dotted, with [i] for list items), and the
    message as a catalog code with parameters, or as text already written (`text`)."""

    path: str
    code: str = ""
    params: Mapping[str, Any] | None = None
    text: str = ""


class DomainError(Exception):
    """A refusal. Subclasses fix the kind; `code` is stable, `params` fill its message.

    `detail` is used when the catalog has no text for `code` (a message composed by the
    code that refused, e.g. a template's line and problem): it is shown as written.
    """

    kind: Kind = Kind.refused
    code: str = "refused"

    def __init__(
        self,
        code: str | None = None,
        detail: str | None = None,
        *,
        errors: Iterable[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> None:
        self.code = code or type(self).code
        self.params: dict[str, Any] = params
        self.detail = detail
        self.errors = tuple(errors)
        self.headers = dict(headers or {})
        super().__init__(self.english())

    def english(self) -> str:
        # The catalog formats these errors' texts: importing it at module level is a cycle.
        from broadcaster.catalog import detail_text

        return detail_text(self, "en")


class Refused(DomainError):
    kind = Kind.refused
    code = "refused"


class NotFound(DomainError):
    kind = Kind.not_found
    code = "not_found"


class Forbidden(DomainError):
    kind = Kind.forbidden
    code = "forbidden"


class Conflict(DomainError):
    kind = Kind.conflict
    code = "conflict"


class TooLarge(DomainError):
    kind = Kind.too_large
    code = "too_large"


class Unavailable(DomainError):
    kind = Kind.unavailable
    code = "unavailable"


class Unauthenticated(DomainError):
    kind = Kind.unauthenticated
    code = "unauthenticated"


class Malformed(DomainError):
    kind = Kind.malformed
    code = "malformed"


class FeatureRefusal(Exception):
    """A feature's refusal in its own terms (an order's field, a template's line, a
    recurrence's part), before the API maps it to a `DomainError` (`api.refusals`, once).

    Features raise these rather than `DomainError`s because their callers need the detail
    (the CLI prints `message`, the digest skips a resident whose template fails) and
    because the kind of answer is the API's business. `message` is the English of logs and
    the CLI (`str()`); `code` and `params` word it in the reader's language from the
    catalog (`code` "" while the catalog has none: `message` is shown as written);
    `path` names the part of the request to fix, as a `FieldError` does ("" for the whole;
    not `field`, which a rule's refusal needs as a parameter).
    """

    default_code: ClassVar[str] = ""

    def __init__(
        self, message: str, code: str | None = None, *, path: str = "", **params: Any
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = type(self).default_code if code is None else code
        self.path = path
        self.params: dict[str, Any] = params

    def at(self, path: str | None = None) -> FieldError:
        """This refusal as the place to fix, at `path` (default: its own)."""
        where = self.path if path is None else path
        return FieldError(where, code=self.code, params=self.params, text=self.message)


def not_found(what: str, ident: object) -> NotFound:
    """`{what} {ident} does not exist` (or is another department's: the same answer)."""
    return NotFound(f"not_found.{what}", ident=ident)


def refused_at(path: str, message: str, code: str = "refused") -> Refused:
    """A refusal of one field whose message is already written (a domain check's text)."""
    return Refused(code, message, errors=[FieldError(path, text=message)])


def describe(error: DomainError, language: str = "ja") -> str:
    """The error in one line of `language` (ja or en): what the console and CLI print."""
    # The catalog formats these errors' texts: importing it at module level is a cycle.
    from broadcaster.catalog import detail_text

    return detail_text(error, language)


def field_messages(error: Exception, language: str = "ja") -> dict[str, str]:
    """Each place to fix in `error` and its message in `language`, for a form to show
    beside its fields: `{"send_at": "配信日時 ... は過ぎています。", "rule.all[1].value": ...}`.

    `error` is a `DomainError` or a feature's refusal the API converts (a `RuleError`, an
    `OrderRefused`...); anything else is no refusal and gives {}. Paths are the API's
    (`title`, `rule.all[1].value`, `file.line[3]`); two messages for one path are joined.
    The sentence for the whole error (a banner) is `describe(error, language)`.
    """
    # The converters live with the API's problem handler, which imports this module.
    from broadcaster.api.refusals import as_domain_error
    from broadcaster.catalog import field_text

    found = as_domain_error(error)
    messages: dict[str, str] = {}
    for item in found.errors if found is not None else ():
        message = field_text(item, language)
        earlier = messages.get(item.path)
        messages[item.path] = message if earlier is None else f"{earlier} {message}"
    return messages
