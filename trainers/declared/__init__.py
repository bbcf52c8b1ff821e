"""CDRL on a declared answer confidence: the model states how sure it is of its answer (`nodes.stated`)."""
