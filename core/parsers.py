"""DRF's JSON and form parsers with limits: a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE is a
413, JSON nested deeper than API_JSON_MAX_DEPTH or with a "\\u0000" in any string is a 400
(core.jsonbody), each with a sentence, never a RecursionError or a database error."""
import io

from django.conf import settings
from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError, ValidationError

from core.jsonbody import JSONShapeError, json_check, max_depth


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"

    def __init__(self):
        super().__init__(f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
                         f"(DATA_UPLOAD_MAX_MEMORY_SIZE); files go in a multipart upload.")


def _read_capped(stream) -> io.BytesIO:
    """The body, read up to the limit (Django applies it to request.body and forms, not to the
    stream DRF's parsers read)."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = stream.read(limit + 1) if limit is not None else stream.read()
    if limit is not None and len(body) > limit:
        raise BodyTooLarge()
    return io.BytesIO(body)


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(_read_capped(stream), media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - JSON may nest at most {max_depth()} levels deep.") from None
        try:
            json_check(data)
        except JSONShapeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        return super().parse(_read_capped(stream), media_type, parser_context)


class MultiPartParser(parsers.MultiPartParser):
    """A multipart body whose form fields hold a NUL is a 400 naming the field. Here, after DRF
    has authenticated the request, because core.nul leaves the multipart bodies of requests
    without a session unparsed."""

    def parse(self, stream, media_type=None, parser_context=None):
        from core.nul import nul_field

        parsed = super().parse(stream, media_type, parser_context)
        name = nul_field(parsed.data)
        if name is not None:
            raise ValidationError({name: [f"The form field {name!r} contains a NUL character."]})
        return parsed
