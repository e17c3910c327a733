"""The guard corpus: phrase pools (train and eval kept in separate files), the generator, the built sets."""
