"""metalearn-edu: masked-LM pretraining, MAML and Reptile for NLP, built from scratch.

The library under the course's notebooks. Import what you need from the modules
(`metalearn_edu.model`, `metalearn_edu.data`, ...); the most used names are here.
"""

__version__ = "0.1.0"

from .config import PRESETS, ModelConfig, Preset, get_preset, model_config
from .interop import load_hf_bert, to_hf_bert
from .model import BertEncoder, EncoderOutput

__all__ = [
    "__version__", "PRESETS", "ModelConfig", "Preset", "get_preset", "model_config",
    "BertEncoder", "EncoderOutput", "load_hf_bert", "to_hf_bert",
]
