"""Field types and base models shared by every domain's schemas.

Input is taken in one spelling only, so that a value never means something its sender
did not write: an id is a JSON integer (not `true`, `"1"` or `1.0`), a boolean is
`true`/`false`, and ids and numbers in a path or query string are plain ASCII digits
(`+1`, `01`, `1.0`, ` 1` or Arabic-Indic digits are refused, not read as 1).
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

MAX_ID = 2_147_483_647  # ids are 32-bit integers in the database

# In a JSON body: an integer, nothing else (strict mode refuses booleans, strings and floats).
Id = Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]
StrictBool = Annotated[bool, Field(strict=True)]
# What `str.strip()` removes, spelled as \uXXXX escapes that Python, Rust (pydantic) and ECMA-262 regexes read alike.
_WHITESPACE = "".join(f"\\u{ord(char):04x}" for char in map(chr, range(0x10000)) if char.isspace())
# A name has a character other than whitespace; the published pattern says so, for the name as sent.
NAME_PATTERN = rf"^[^\x00]*[^\x00{_WHITESPACE}][^\x00]*$"


def _stripped_name(value: str) -> str:
    name = value.strip()
    if not name:
        raise PydanticCustomError("string_too_short", "String should have a character other than whitespace")
    return name


# Printable text: PostgreSQL refuses NUL bytes in text, so they are refused here with a 422. A name is
# stored without the whitespace around it.
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00]*$"),
    AfterValidator(_stripped_name),
    Field(json_schema_extra={"pattern": NAME_PATTERN}),
]
Description = Annotated[str, StringConstraints(max_length=5000, pattern=r"^[^\x00]*$")]


def canonical_int(value: Any) -> Any:
    """A path or query integer as plain digits: `42`, not `+42`, `042`, `42.0`, ` 42` or non-ASCII digits."""
    if not isinstance(value, str):
        return value  # the strict int schema after this decides
    if value.isascii() and value.isdigit() and (value == "0" or not value.startswith("0")):
        if len(value) > 19:  # past any id or count; int() of thousands of digits is refused anyway
            raise PydanticCustomError("less_than_equal", "Input should be less than or equal to {le}", {"le": MAX_ID})
        return int(value)
    raise PydanticCustomError(
        "int_parsing",
        "Input should be a whole number in plain digits, such as 42: no sign, leading zero, space or point",
    )


def true_or_false(value: Any) -> Any:
    """A query-string boolean: `true` or `false`, nothing else (not `1`, `yes`, `on`, `True`)."""
    if isinstance(value, str):
        if value not in ("true", "false"):
            raise PydanticCustomError("bool_parsing", "Input should be true or false")
        return value == "true"
    return value


_PLAIN_INT = BeforeValidator(canonical_int)

PathId = Annotated[int, Path(ge=1, le=MAX_ID, strict=True), _PLAIN_INT]
Skip = Annotated[int, Query(ge=0, le=MAX_ID, strict=True, description="How many items to skip."), _PLAIN_INT]
Limit = Annotated[
    int, Query(ge=1, le=1000, strict=True, description="How many items to return (at most 1000)."), _PLAIN_INT
]
QueryId = Annotated[int, Field(ge=1, le=MAX_ID, strict=True), _PLAIN_INT]
QueryBool = Annotated[bool, Field(strict=True), BeforeValidator(true_or_false)]


class RequestModel(BaseModel):
    """A request body: unknown fields are refused, so a typo never goes unnoticed."""

    model_config = ConfigDict(extra="forbid")


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def given(name: str, kind: str) -> dict[str, Any]:
    """JSON Schema for "`name` is sent, and not null" (null counts as not sent)."""
    return {"required": [name], "properties": {name: {"type": kind}}}


def not_given(name: str) -> dict[str, Any]:
    return {"properties": {name: {"type": "null"}}}  # holds when it is left out, too


def either(first: tuple[str, str], second: tuple[str, str], *, not_both: bool) -> list[Any]:
    """The rule "at least one of the two" (and, with `not_both`, "not both") in keywords that code
    generators leave alone (if/then, not) and fuzzers check, rather than a top-level oneOf, which
    makes openapi-python-client give up on the body's model."""
    rules: list[dict[str, Any]] = [{"if": not_given(first[0]), "then": given(*second)}]
    if not_both:
        both = given(*first)
        both["required"].append(second[0])
        both["properties"].update(given(*second)["properties"])
        rules.append({"not": both})
    return rules


class NamedString:
    """`Annotated[str, NamedString(name, check, ...)]`: a str checked by `check`, published once in the OpenAPI
    document as the schema `name`, with `published` (its description, enum, examples...) on it. Generated clients
    then get one type for it wherever it is used, not a copy per field."""

    def __init__(self, name: str, check: Callable[[str], str], **published: Any) -> None:
        self.name = name
        self.check = check
        self.published = published

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            self.check, core_schema.str_schema(strict=True), ref=self.name
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        reference = handler(schema)
        handler.resolve_ref_schema(reference).update(title=self.name, **self.published)
        return reference
