"""What ``robust-mllm generate`` makes: its parameters and the list of variants per data set.

Defaults follow the paper: an open-ended (LB-COCO-style) data set gets clean + 9 visual + 9
textual + 9 joint variants per severity; a yes/no (POPE-style) data set gets clean + 9 visual,
and textual + joint as well only with ``--perturbations all`` (or when named explicitly).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from robustbench_mllm.errors import ConfigError
from robustbench_mllm.imaging import ImageFormat
from robustbench_mllm.perturbations.base import SEVERITIES
from robustbench_mllm.perturbations.text.translation_prompt import DEFAULT_PROMPT
from robustbench_mllm.protocols import DEFAULT_PROTOCOL, get_protocol
from robustbench_mllm.records import VariantSpec

JOINT_VISUAL: tuple[str, ...] = ("zoom_blur", "frost", "gaussian_noise")
JOINT_TEXT: tuple[str, ...] = ("translate_arabic", "translate_greek", "translate_hindi")
OnError = Literal["fail", "skip"]
Engine = Literal["fast", "reference"]


@dataclass(frozen=True)
class GenerateConfig:
    """Everything that determines the bytes written. Two runs into the same folder must agree on
    the ``identity`` fields; severities and perturbations may grow (only missing variants are made)."""

    suite: str = "sample"
    protocol: str = DEFAULT_PROTOCOL
    source: str | None = None
    images: str | None = None
    severities: tuple[int, ...] = (3,)
    perturbations: str | None = None  # None: the default for each data set's task
    engine: Engine = "fast"
    seed: int = 0
    limit: int | None = None
    image_format: ImageFormat | None = None  # None: the protocol's storage (``with_storage``)
    quality: int | None = None
    on_error: OnError = "fail"
    allow_nonstandard: bool = False
    assets: str | None = None  # MM_Robustness's frost files (vittle); None: derived textures
    similarity_model: str | None = None  # EDA's similarity filter for vittle's word edits; None: off
    translation_prompt_sha256: str = DEFAULT_PROMPT.sha256

    def __post_init__(self) -> None:
        if self.similarity_model and get_protocol(self.protocol).text_edits != "mm_robustness":
            raise ConfigError(f"`similarity_model`: protocol {self.protocol!r} has no similarity filter "
                              "(only the vittle protocol's word edits, EDA's, use one)")

    def identity(self) -> dict[str, Any]:
        """The parameters every variant in one output folder shares (and whether the similarity
        filter was on, spelled out for the manifest's readers)."""
        kept = {k: v for k, v in asdict(self).items() if k not in ("severities", "perturbations", "on_error")}
        return {**kept, "similarity_filter": self.similarity_model is not None}

    @property
    def storage(self) -> tuple[ImageFormat, int]:
        """(image format, JPEG quality), once ``with_storage`` has set them from the protocol."""
        if self.image_format is None or self.quality is None:
            raise AssertionError("GenerateConfig.storage before with_storage")
        return self.image_format, self.quality

    @property
    def image_ext(self) -> str:
        return "png" if self.image_format == "png" else "jpg"


def with_storage(config: GenerateConfig) -> GenerateConfig:
    """``config`` with ``image_format`` and ``quality`` set from its protocol. ``vittle`` stores
    what MM_Robustness stored (OpenCV's JPEG writer, quality 95, 4:2:0), so a format or quality
    chosen under it is refused rather than silently making a different benchmark; ``canonical``
    defaults to lossless PNG and takes either."""
    protocol = get_protocol(config.protocol)
    if protocol.image_storage == "jpeg_opencv_q95":
        if config.image_format not in (None, "jpeg_opencv") or config.quality not in (None, 95):
            raise ConfigError(
                f"`image_format`/`quality`: protocol {protocol.name} stores images as MM_Robustness did "
                "(OpenCV JPEG, quality 95, 4:2:0); leave them unset, or use `protocol` canonical to choose")
        return replace(config, image_format="jpeg_opencv", quality=95)
    if config.assets is not None:
        raise ConfigError(f"`assets` (MM_Robustness's frost textures) is used only by protocol vittle, not {protocol.name}")
    return replace(config, image_format=config.image_format or "png", quality=config.quality or 95)


def parse_severities(text: str) -> tuple[int, ...]:
    """``"3"`` or ``"1,3,5"`` -> sorted unique severities, each in 1..5."""
    try:
        values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise ConfigError(f"`severity` {text!r}: expected integers like 3 or 1,3,5") from None
    if not values or any(v not in SEVERITIES for v in values):
        raise ConfigError(f"`severity` {text!r}: each severity must be one of {SEVERITIES}")
    return tuple(values)


def _registered(modality: str) -> list[str]:
    from robustbench_mllm.registry import load_registry

    return [name for name, pert in load_registry("perturbations").items() if pert.modality == modality]


def _joint_pairs() -> list[tuple[str, str]]:
    return [(v, t) for v in JOINT_VISUAL for t in JOINT_TEXT]


def _expand(token: str, visual: list[str], text: list[str]) -> list[tuple[str | None, str | None]]:
    """One ``--perturbations`` token -> (visual, text) pairs."""
    if token == "clean":  # always made; naming it is harmless
        return []
    if token == "visual":
        return [(v, None) for v in visual]
    if token == "text":
        return [(None, t) for t in text]
    if token == "joint":
        return list(_joint_pairs())
    if token == "all":
        return _expand("visual", visual, text) + _expand("text", visual, text) + _expand("joint", visual, text)
    parts = token.split("+")
    if len(parts) == 2:
        if parts[0] not in visual or parts[1] not in text:
            raise ConfigError(f"`perturbations` {token!r}: a joint name is <visual>+<text>, e.g. frost+translate_greek")
        return [(parts[0], parts[1])]
    if token in visual:
        return [(token, None)]
    if token in text:
        return [(None, token)]
    from robustbench_mllm.registry import load_registry

    load_registry("perturbations").get(token)  # raises with a did-you-mean hint
    raise ConfigError(f"`perturbations` {token!r}: not a visual or textual perturbation")


def select_variants(
    selection: str | None, task: str, severities: Sequence[int], seed: int
) -> list[VariantSpec]:
    """``clean`` plus the selected perturbations at each severity, in a fixed order."""
    visual, text = _registered("visual"), _registered("text")
    if selection is None:
        selection = "all" if task == "open_ended" else "visual"
    pairs: list[tuple[str | None, str | None]] = []
    for token in (t.strip() for t in selection.split(",")):
        if token:
            pairs.extend(p for p in _expand(token, visual, text) if p not in pairs)
    specs = [VariantSpec(seed=seed)]
    for severity in severities:
        specs.extend(VariantSpec(visual=v, text=t, severity=severity, seed=seed) for v, t in pairs)
    return specs


def output_root(out: Path | None, suite: str) -> Path:
    return Path(out) if out else Path("generated") / suite
