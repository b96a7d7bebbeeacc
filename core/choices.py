"""The values some request and job fields take, as plain tuples: the command line builds its
parsers from them without loading the request type or the database (`atelier --help` stays
quick)."""

TASKS = ("text2img", "img2img", "inpaint", "upscale", "depth")
DTYPES = ("float32", "float16", "bfloat16")
DEVICES = ("cpu", "cuda", "mps")
# paused: a person held it (a running training job checkpoints first); `resume` queues it again
JOB_STATES = ("queued", "running", "paused", "done", "failed", "cancelled")
# What a job does: make images from a GenerationRequest, or train a variant from a TrainingSpec
JOB_KINDS = ("generate", "train")
FINISHED_JOB_STATES = ("done", "failed", "cancelled")
