"""The persistent queue: jobs in the library database, workers, recovery, folder batches."""
