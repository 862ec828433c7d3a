"""What edgebench can use on this machine: every framework, converter and runtime in the
registries, with its version or the extra that installs it. Nothing heavy is imported."""

from __future__ import annotations

from importlib import metadata

from edgebench import registry


def _version(dist: str) -> str | None:
    for name in (dist, dist + "-cpu", dist.replace("-cpu", "")):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def _row(kind: str, name: str, p: registry.Plugin, role: str) -> dict:
    missing = p.missing_module()
    dist = p.distribution or p.modules[0].replace("_", "-")
    return {"kind": kind, "name": name, "installed": missing is None,
            "version": _version(dist) if missing is None else None, "missing": missing,
            "install": p.install_hint, "role": role}


def availability() -> list[dict]:
    rows = [_row("framework", name, p, p.role or "trains the network") for name, p in registry.frameworks().items()]
    converters: dict[str, list[registry.Exporter]] = {}
    for e in registry.exporters():
        converters.setdefault(e.converter or e.name, []).append(e)
    for name, exps in converters.items():
        roles = ", ".join(dict.fromkeys(
            f"{registry.framework_title(e.source)} -> .{e.filename.rsplit('.', 1)[-1]}" for e in exps))
        # The converter's own module decides the version shown (the last one it needs).
        p = exps[0]
        rows.append(_row("converter", name, registry.Plugin(name, p.target, p.modules, p.extra,
                                                            distribution=p.modules[-1].replace("_", "-")), roles))
    rows += [_row("runtime", name, p, p.role) for name, p in registry.runtimes().items()]
    return rows
