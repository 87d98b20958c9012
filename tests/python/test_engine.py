"""tilecopy.Engine's options, stats(), describe(), info(), and the import-time torch check."""

import json
import os
import subprocess
import sys

import pytest
import torch

import tilecopy


def test_options_become_the_engine_s_options():
    e = tilecopy.Engine(threads=1, numa="off", kernel="scalar", block_bytes=65536, inline_threshold=1024,
                        nontemporal_threshold="never", linger_us=0, pin_threads=False, tile_bytes=1 << 20)
    o = e.options
    assert (o["threads"], o["numa"], o["kernel"], o["block_bytes"], o["inline_threshold"]) == \
        (1, "off", "scalar", 65536, 1024)
    assert (o["nontemporal_threshold"], o["linger_us"], o["pin_threads"], o["tile_bytes"]) == \
        ("never", 0, False, 1 << 20)
    assert e.kernel == "scalar"
    assert any("kernel: scalar" in line for line in e.describe())
    src = torch.randn(100_000)
    dst = torch.empty_like(src)
    assert e.copy_(dst, src) is dst
    assert torch.equal(dst, src)
    stats = e.stats()
    assert stats["copies"] == 1 and stats["bytes"] == 400_000 and stats["tensor_contiguous"] == 1
    assert "kernels" not in stats  # one kernel per engine (e.kernel): the totals are its


def test_none_means_the_default_and_the_resolved_options_make_an_equal_engine():
    default = tilecopy.Engine(threads=None, numa=None, kernel=None)
    again = tilecopy.Engine(**default.options)
    assert again.options == default.options


def test_numa_node_and_a_synthetic_topology():
    e = tilecopy.Engine(numa="node", numa_node=1, topology_synthetic="pack:2 [numa] core:1 pu:1", pin_threads=False)
    assert e.options["numa"] == "node" and e.options["numa_node"] == 1
    assert any("2 NUMA node" in line for line in e.describe())
    src = torch.arange(300_000.0)
    dst = torch.empty_like(src)
    e.copy_(dst, src)
    assert torch.equal(dst, src)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"thread": 2}, TypeError, "unknown option 'thread'"),
    ({"threads": "2"}, TypeError, "threads must be an int or None, not str"),
    ({"threads": True}, TypeError, "threads must be an int or None, not bool"),
    ({"threads": -1}, ValueError, "threads must be >= 0"),
    ({"block_bytes": 2 ** 80}, ValueError, "block_bytes is too large"),
    ({"numa": "nodes"}, ValueError, "numa must be 'auto', 'interleave', 'node' or 'off'"),
    ({"numa": "node"}, ValueError, "numa='node' needs numa_node"),
    ({"numa_node": 0}, ValueError, "numa_node is only meaningful with numa='node'"),
    ({"pin_threads": 1}, TypeError, "pin_threads must be a bool or None, not int"),
    ({"kernel": 3}, TypeError, "kernel must be a str or None, not int"),
    ({"nontemporal_threshold": "sometimes"}, ValueError, "nontemporal_threshold must be a size in bytes"),
    ({"kernel": "sse9"}, tilecopy.Error, "sse9"),
    ({"numa": "node", "numa_node": 5}, tilecopy.Error, ""),
    ({"topology_xml": "/nonexistent/topology.xml"}, tilecopy.Error, "/nonexistent/topology.xml"),
])
def test_bad_options_are_refused_clearly(kwargs, error, match):
    with pytest.raises(error, match=match):
        tilecopy.Engine(**kwargs)


def test_positional_arguments_are_refused():
    with pytest.raises(TypeError):
        tilecopy.Engine(2)


def test_module_level_stats_and_describe_are_the_default_engine_s():
    before = tilecopy.stats()["copies"]
    tilecopy.copy_(torch.empty(10), torch.ones(10))
    assert tilecopy.stats()["copies"] == before + 1
    assert tilecopy.describe() == tilecopy.default_engine().describe()
    assert tilecopy.describe()[0] == f"tilecopy {tilecopy.__version__}"


def test_info_is_what_tilecopy_info_json_prints():
    info = tilecopy.info()
    for key in ("version", "topology", "numa_nodes", "arenas", "threads", "kernel", "caches", "thresholds",
                "describe"):
        assert key in info, key
    assert info["version"] == tilecopy.__version__
    two = tilecopy.info(synthetic="pack:2 [numa] core:1 pu:1", numa="interleave", pin_threads=False)
    assert len(two["numa_nodes"]) == 2 and two["numa_policy"] == "interleave" and two["pin_threads"] is False
    tool = os.environ.get("TILECOPY_INFO")
    if tool:  # set by meson test: the tool built beside this package
        printed = json.loads(subprocess.run([tool, "--json", "--synthetic", "pack:2 [numa] core:1 pu:1", "--no-pin",
                                             "--numa", "interleave"], check=True, capture_output=True).stdout)
        for d in (printed, two):  # which workers entered an arena first varies from run to run
            for a in d["arenas"]:
                a.pop("pinning")
            d["describe"] = [line for line in d["describe"] if not line.startswith("arena ")]
            d.pop("torch_adapter")  # loaded in this interpreter, never in the tool's process
        assert printed == two
    with pytest.raises(tilecopy.Error, match="expected auto, interleave, off or node:N"):
        tilecopy.info(numa="everywhere")


def test_importing_under_another_torch_version_raises_import_error_naming_both():
    """Both checks in one fresh interpreter (importing torch costs seconds): the package's,
    before it loads the compiled module, and the compiled module's own."""
    path = tilecopy._tilecopy.__file__
    code = ("import importlib.util, torch\n"
            "torch.__version__ = '0.0.1'\n"
            "try:\n    import tilecopy\nexcept ImportError as e:\n    print('package:', e)\n"
            "torch.__version__ = '0.0.2'\n"
            f"spec = importlib.util.spec_from_file_location('_tilecopy', {path!r})\n"
            "try:\n    importlib.util.module_from_spec(spec)\nexcept ImportError as e:\n    print('module:', e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    lines = r.stdout.splitlines()
    assert len(lines) == 2, r.stdout + r.stderr
    built_for = "tilecopy was built for torch " + tilecopy.torch_version
    assert lines[0].startswith("package: " + built_for) and "this is torch 0.0.1" in lines[0]
    assert lines[1].startswith("module: " + built_for) and "this is torch 0.0.2" in lines[1]
