"""The `<id:...>` path converter: a row id that fits a bigint column, so an id of twenty digits
is "not found" (404) instead of an overflow inside the database driver."""

BIGINT_MAX = 2**63 - 1


class IdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > BIGINT_MAX:
            raise ValueError("beyond bigint")  # Django's resolver treats ValueError as "no match"
        return number

    def to_url(self, value) -> str:
        return str(int(value))
