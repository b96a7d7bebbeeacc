"""The values some request and job fields take, as plain tuples: the command line builds its
parsers from them without loading the request type or the database (`atelier --help` stays
quick)."""

TASKS = ("text2img", "img2img", "inpaint", "upscale", "depth")
DTYPES = ("float32", "float16", "bfloat16")
DEVICES = ("cpu", "cuda", "mps")
JOB_STATES = ("queued", "running", "done", "failed", "cancelled")
FINISHED_JOB_STATES = ("done", "failed", "cancelled")
