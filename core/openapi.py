"""OpenAPI: the error responses every operation may give, documented once (a drf-spectacular
postprocessing hook), so that clients and fuzzers know a 400 or a 404 is part of the contract."""

ERROR = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
# A validation error names each field with its messages, or says what is wrong in "detail".
VALIDATION = {"type": "object", "additionalProperties": True,
              "description": '{"field": ["message", ...]} or {"detail": "..."}'}

ERRORS = {
    "400": ("Invalid input: the body or a query parameter, with the reason.", "ValidationErrorResponse"),
    "401": ("Not authenticated (a wrong or expired token).", "ErrorResponse"),
    "403": ("Not authenticated, or not allowed to do this.", "ErrorResponse"),
    "404": ("No such object, or not one the caller may see.", "ErrorResponse"),
    "413": ("The request body is too large (DATA_UPLOAD_MAX_MEMORY_SIZE).", "ErrorResponse"),
    "429": ("Throttled, or locked out after failed passwords; retry later.", "ErrorResponse"),
    "503": ("A service behind the request is unavailable (the task queue, a model); retry later.", "ErrorResponse"),
}


def error_responses(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorResponse"], schemas["ValidationErrorResponse"] = ERROR, VALIDATION
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            for code, (description, name) in ERRORS.items():
                responses.setdefault(code, {"description": description, "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}})
    return result
