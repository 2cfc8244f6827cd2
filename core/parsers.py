"""DRF's JSON parser with limits on depth and NUL characters (core.jsonbody): a body nested a
thousand deep or a "\\u0000" in any string is a 400 with a sentence, never a RecursionError or a
database error."""
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from core.jsonbody import JSONShapeError, json_check, max_depth


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - JSON may nest at most {max_depth()} levels deep.") from None
        try:
            json_check(data)
        except JSONShapeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        return data
