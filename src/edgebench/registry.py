"""Plug-ins: frameworks, exporters and runtimes, each named by a "module:attribute" string and
imported only when used, so a missing framework or converter becomes a skipped row with an
install hint, never an ImportError at start-up.

Each entry carries everything its name needs (title, colour, role, install hint, capabilities),
so doctor, config validation, the pipeline and the reports read them and never list names of
their own. Adding a plug-in is its module plus one registry line: in the package's own registry
(frameworks/__init__.py, exporters/__init__.py, runtimes/__init__.py), or from outside the
package through an `edgebench.plugins` entry point whose module calls `register(...)`.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field

from edgebench.errors import ConfigError

# Runtime capabilities.
MICROCONTROLLER = "microcontroller"  # an interpreter for microcontrollers: arena, C arrays, board fit
LAYERS = "layers"  # hands back intermediate tensors: Session.layer_tensors() / layer_outputs(x, keys)


@dataclass(frozen=True)
class Plugin:
    name: str
    target: str  # "module:attribute"
    modules: tuple[str, ...]  # top-level modules that must be importable
    extra: str  # the pip extra that installs them
    title: str = ""
    role: str = ""
    distribution: str | None = None  # whose version doctor reports (default: the first module)

    @property
    def display(self) -> str:
        return self.title or self.name

    @property
    def install_hint(self) -> str:
        return f"pip install 'edgebench[{self.extra}]'" if self.extra else "pip install edgebench"

    def missing_module(self) -> str | None:
        for mod in self.modules:
            if importlib.util.find_spec(mod) is None:
                return mod
        return None

    def load(self):
        module, attr = self.target.split(":")
        return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Framework(Plugin):
    colour: str = "#7f7f7f"
    default: bool = True  # trained when --frameworks is not given
    aliases: tuple[str, ...] = ()  # other names --frameworks and --formats accept for it (tf, torch)


@dataclass(frozen=True)
class Runtime(Plugin):
    formats: tuple[str, ...] = ()  # artifact formats it runs
    capabilities: frozenset[str] = field(default_factory=frozenset)
    # A microcontroller interpreter: "module:function" that checks an artifact on it (arena, C
    # arrays, board fit), against the runtime that verified the same file on the host.
    check: str | None = None
    reference_runtime: str | None = None
    # Why it has no LAYERS capability, where there is more to say than that it hands back no
    # intermediate tensors (the report prints it in place of a per-layer table).
    no_layers: str = ""

    def load_check(self):
        module, attr = self.check.split(":")
        return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Exporter(Plugin):
    """One artifact a framework can produce: (source, format, precision) -> a function
    (model, path, ExportContext) writing `filename`, run by `runtime`. `needs` names the
    (format, precision) export of the same source it derives from (a quantized copy)."""

    source: str = ""
    format: str = ""
    precision: str = ""
    runtime: str = ""
    filename: str = ""
    converter: str = ""  # the tool that does the work, as doctor lists it
    needs: tuple[str, str] | None = None
    calibrated: bool = False  # static quantization: calibrated on the shared calibration set
    opt_in: bool = False  # made only when --formats names its precision (a variant kept for comparison)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.format, self.precision)


# The package's own registries: loaded by name, as entry points are, so that the registry depends on
# none of its plug-ins (each of them imports this module to register itself).
BUILTIN_PACKAGES: tuple[str, ...] = ("edgebench.exporters", "edgebench.frameworks", "edgebench.runtimes")
FRAMEWORKS: dict[str, Framework] = {}
RUNTIMES: dict[str, Runtime] = {}
EXPORTERS: dict[tuple[str, str, str], Exporter] = {}
_loaded = False


def register(plugin: Plugin) -> Plugin:
    """Add a plug-in (a built-in one, or one from an entry point). Order is kept: exporters run in
    the order registered, so an export that needs another comes after it."""
    if isinstance(plugin, Framework):
        FRAMEWORKS[plugin.name] = plugin
    elif isinstance(plugin, Runtime):
        RUNTIMES[plugin.name] = plugin
    elif isinstance(plugin, Exporter):
        EXPORTERS[plugin.key] = plugin
    else:  # pragma: no cover - a programming error
        raise TypeError(f"not a plug-in: {plugin!r}")
    return plugin


def load_all() -> None:
    """The built-in registries, then every `edgebench.plugins` entry point (once per process)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for name in BUILTIN_PACKAGES:  # each registers its entries on import
        importlib.import_module(name)
    from importlib.metadata import entry_points

    for ep in entry_points(group="edgebench.plugins"):
        ep.load()


def frameworks() -> dict[str, Framework]:
    load_all()
    return FRAMEWORKS


def runtimes() -> dict[str, Runtime]:
    load_all()
    return RUNTIMES


def exporters() -> list[Exporter]:
    load_all()
    return list(EXPORTERS.values())


def framework(name: str) -> Framework:
    fws = frameworks()
    if name not in fws:
        raise ConfigError(f"unknown framework '{name}'; valid choices: {', '.join(fws)}")
    return fws[name]


def exporters_for(source: str) -> list[Exporter]:
    return [e for e in exporters() if e.source == source]


def formats() -> tuple[str, ...]:
    return tuple(dict.fromkeys(e.format for e in exporters()))


def precisions() -> tuple[str, ...]:
    return tuple(dict.fromkeys(e.precision for e in exporters()))


def microcontroller_runtimes(fmt: str) -> list[Runtime]:
    """Runtimes with the microcontroller capability that run artifacts of this format."""
    return [r for r in runtimes().values() if MICROCONTROLLER in r.capabilities and fmt in r.formats]


def distributions() -> list[str]:
    """The distributions every plug-in needs (recorded with their versions in results.json)."""
    names = ["edgebench", "numpy"]
    for p in [*frameworks().values(), *exporters(), *runtimes().values()]:
        for i, module in enumerate(p.modules):
            names.append(p.distribution if i == 0 and p.distribution else module.replace("_", "-"))
    return list(dict.fromkeys(names))


def framework_name(name: str) -> str:
    """A framework's registry name, given it or one of its aliases (unknown names as given)."""
    for fw in frameworks().values():
        if name in fw.aliases:
            return fw.name
    return name


def framework_title(name: str) -> str:
    fw = frameworks().get(name)
    return fw.display if fw else name


def framework_colour(name: str) -> str:
    fw = frameworks().get(name)
    return fw.colour if fw else "#7f7f7f"
