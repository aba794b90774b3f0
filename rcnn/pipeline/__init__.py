"""Detection over many images: folder and list inputs, records, worker pools, the Ray Data job."""
