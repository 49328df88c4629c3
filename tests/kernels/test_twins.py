"""Every kernel's three twins export the same functions with the same signatures."""

import inspect

import pytest

from fastcf.kernels import _backend


def _twins(kernel):
    twins = {}
    for backend in _backend.BACKENDS:
        module, reason = _backend.load_twin(kernel, backend)
        assert module is not None, f"{backend} twin of {kernel} does not import: {reason}"
        twins[backend] = module
    return twins


def _shape(function):
    """Parameter names and kinds (annotations differ between Python, Numba and Cython)."""
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("kernel", _backend.KERNELS)
def test_twins_export_the_same_functions_with_the_same_signatures(kernel):
    twins = _twins(kernel)
    exported = {backend: sorted(module.__all__) for backend, module in twins.items()}
    assert exported["numba"] == exported["reference"] == exported["cython"], exported
    assert exported["reference"], f"{kernel} exports no function"
    for name in exported["reference"]:
        shapes = {backend: _shape(getattr(module, name)) for backend, module in twins.items()}
        assert shapes["numba"] == shapes["reference"] == shapes["cython"], (name, shapes)
        assert shapes["reference"][-1][0] == "n_threads", f"{kernel}.{name} must end in n_threads"


# What each kernel folder must export, so that a function dropped from all three twins at
# once (which the comparison above cannot see) fails here.
EXPORTS = {
    "topk": ["select_topk", "select_topk_dot"],
    "als": ["als_explicit_half_step", "als_half_step", "als_loss", "als_subspace_half_step"],
    "metrics": ["factor_ranking_metrics", "list_ranking_metrics", "score_ranking_metrics"],
    "sgd": ["sgd_epoch", "svdpp_epoch"],
    "similarity": ["similarity_topk"],
    "bpr": ["ranking_epoch"],
}


def test_every_kernel_folder_exports_its_functions():
    assert sorted(EXPORTS) == sorted(_backend.KERNELS)
    for kernel, names in EXPORTS.items():
        for backend, module in _twins(kernel).items():
            assert sorted(module.__all__) == names, (kernel, backend, module.__all__)


@pytest.mark.parametrize("kernel", _backend.KERNELS)
def test_every_kernel_is_public_in_fastcf_kernels(kernel):
    import fastcf.kernels

    reference = _backend.load_twin(kernel, "reference")[0]
    for name in reference.__all__:
        public = getattr(fastcf.kernels, name)
        params = list(inspect.signature(public).parameters)
        assert params[-2:] == ["n_threads", "backend"], (name, params)
        assert public.__doc__ and "Returns" in public.__doc__, f"{name} needs a docstring with shapes"
