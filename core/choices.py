"""The values some request fields take, as plain tuples: the command line builds its parsers
from them without loading the request type (`atelier --help` stays quick)."""

TASKS = ("text2img", "img2img", "inpaint", "upscale", "depth")
DTYPES = ("float32", "float16", "bfloat16")
DEVICES = ("cpu", "cuda", "mps")
