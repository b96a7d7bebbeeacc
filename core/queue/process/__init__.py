"""The worker in its own process, as the desktop app runs it.

Loading a model imports torch, diffusers and transformers and reads the weights; parts of that
hold Python's GIL for a few hundred milliseconds at a time, and in the GUI's process the window
froze for as long (bench case gui_stall_ms). So the window's process never runs a model: its
`WorkerProcess` (`parent`) starts `python -m core.queue.process.child HOME`, which runs the same
`Worker` over the same library, and the two talk in JSON lines (`protocol`): orders on the
child's stdin, events on its stdout. The child's stderr is the parent's, so tracebacks still
reach the terminal.

- Cancelling a running job needs no message: the child's heartbeat reads the cancel request from
  the database, as for any worker.
- The end of the child's stdin means `Stop`, so a child never outlives a window that crashed.
- A child that dies (killed, out of memory, a driver crash) is started again, and its crash
  recovery puts the job it was running back in the queue (or fails it after too many tries);
  after `parent.RESTART_LIMIT` deaths in a row without finishing a job it is left stopped.
"""
