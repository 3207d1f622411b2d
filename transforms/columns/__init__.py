"""Column kernels of the columnar unify (transforms.columnar): one module per concern.

Each works on a whole Arrow column at once. Where a value falls outside the
fast path a kernel covers exactly, it is handed to the scalar function in
transforms.values / transforms.pii / transforms.identifiers, once per distinct
value, so the two readings cannot disagree.
"""
