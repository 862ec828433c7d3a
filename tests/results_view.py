"""Reading results.json (schema 2) in tests: an artifact's runtime results by role."""


def host(a: dict) -> dict:
    """The result of the runtime that verified an artifact on the host (artifact["runtime"])."""
    (res,) = [x for x in a["results"] if x["role"] == "host"]
    assert res["runtime"] == a["runtime"] and res["reference"] == "source", res
    return res
