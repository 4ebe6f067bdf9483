from rest_framework import exceptions, parsers

from finetunings import hygiene


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, plus the checks every body needs before any view sees it.

    Deep nesting would otherwise become a 500 (RecursionError), and a NUL or a lone
    surrogate anywhere (keys included) a 500 or a row no response can render.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(
                "JSON parse error - the body is nested too deeply."
            ) from None
        unsafe = hygiene.unsafe_text_path(data)
        if unsafe is not None:
            path, message = unsafe
            # The message never quotes the text: it could not be encoded in the answer.
            raise exceptions.ValidationError({path or "non_field_errors": [message]})
        return data
