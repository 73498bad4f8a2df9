"""Content moderation and sensitive-word filtering for Chinese dating platforms."""
__version__ = "0.1.0"

from .detectors.base import CheckContext  # noqa: E402
from .engine import Moderator, UnknownScene  # noqa: E402
from .normalize import NormalizedText, normalize  # noqa: E402
from .types import Hit, Verdict  # noqa: E402
from .wordlists import WordlistError, load_wordlist  # noqa: E402

__all__ = [
    "CheckContext", "Hit", "Moderator", "NormalizedText", "UnknownScene", "Verdict",
    "WordlistError", "load_wordlist", "normalize", "__version__",
]
