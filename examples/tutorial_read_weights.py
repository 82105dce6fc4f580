# Read what examples/tutorial_layer wrote, with numpy alone, and run the same model in numpy
# (docs/TUTORIAL.md). numpy is not a dependency of the project: `apt-get install python3-numpy`.
#
#   /usr/bin/python3 examples/tutorial_read_weights.py runs/tutorial
import json
import struct
import sys

try:
    import numpy as np
except ImportError:
    print("numpy is not installed: skipped")
    sys.exit(77)  # ctest reports this as skipped


def load_safetensors(path):
    """8-byte little-endian header length, JSON header, then the raw little-endian tensors."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    metadata = header.pop("__metadata__", {})
    data = blob[8 + n:]  # data_offsets count from here
    dtypes = {"F32": "<f4", "F64": "<f8"}
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtypes[entry["dtype"]]).reshape(entry["shape"])
    return tensors, metadata


out = sys.argv[1] if len(sys.argv) > 1 else "runs/tutorial"
w, metadata = load_safetensors(f"{out}/tutorial.safetensors")
print("metadata:", metadata)
for name, a in w.items():
    print(f"  {name:18s} {a.dtype} {list(a.shape)}")

# The .npy copy of one weight is the same array.
assert np.array_equal(np.load(f"{out}/block.proj.weight.npy"), w["block.proj.weight"])


# The model of tutorial_layer.cpp; a Linear stores its weight [out, in], so y = x W^T + b.
def linear(x, prefix):
    return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]


x = np.load(f"{out}/x.npy")
h = np.tanh(linear(x, "input"))
u = linear(h, "block.proj")
h = h + w["block.gain"] * u / (1 + np.abs(u))
y = linear(h, "output")

error = np.abs(y - np.load(f"{out}/pred.npy")).max()
print(f"max |numpy - C++| over {len(x)} inputs: {error:.2e}")
sys.exit(0 if error < 1e-4 else 1)
