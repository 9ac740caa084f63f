import pytest
import torch

from llm101_helpers import device as device_module
from llm101_helpers.device import DEVICE_ENV_VAR, describe_device, get_device, setup_notebook


@pytest.fixture(autouse=True)
def _no_device_override(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV_VAR, raising=False)


def test_unknown_name_is_a_clear_error():
    with pytest.raises(
        ValueError, match=r"unknown device 'nonsense'.*'cpu', 'cuda', 'cuda:N' or 'mps'"
    ):
        get_device("nonsense")


def test_env_var_is_honoured(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV_VAR, "cpu")
    assert get_device() == torch.device("cpu")


def test_env_var_with_unknown_name_names_the_variable(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV_VAR, "tpu")
    with pytest.raises(
        ValueError, match=rf"'tpu' \(from the {DEVICE_ENV_VAR} environment variable\)"
    ):
        get_device()


def test_argument_wins_over_env_var(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV_VAR, "nonsense")
    assert get_device("cpu") == torch.device("cpu")


def test_cpu_takes_no_index():
    with pytest.raises(ValueError, match="takes no index"):
        get_device("cpu:1")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_unavailable_cuda_is_a_clear_error():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        get_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_index_out_of_range():
    n = torch.cuda.device_count()
    with pytest.raises(RuntimeError, match=f"{n} CUDA device"):
        get_device(f"cuda:{n}")


def test_default_is_best_available(monkeypatch):
    expected = "cuda" if torch.cuda.is_available() else None
    device = get_device()
    if expected:
        assert device.type == expected
    else:
        assert device.type in {"mps", "cpu"}


def test_describe_device_is_one_line():
    line = describe_device("cpu")
    assert line.startswith("cpu (") and "\n" not in line


def test_setup_notebook_seeds_and_sets_print_options(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV_VAR, "cpu")
    device = setup_notebook(seed=7)
    a = torch.randn(3)
    setup_notebook(seed=7)
    b = torch.randn(3)
    assert device == torch.device("cpu")
    assert torch.equal(a, b)
    assert repr(torch.tensor([0.000012345])) == "tensor([0.0000])"  # 4 decimals, no 1e-05
    setup_notebook(seed=8)
    assert not torch.equal(torch.randn(3), a)


@pytest.mark.parametrize("device", [torch.device("cpu"), torch.device("cpu", None)])
def test_a_torch_device_is_accepted(device):
    assert get_device(device) == torch.device("cpu")
    assert describe_device(device) == describe_device("cpu")


def test_a_torch_device_is_checked_like_a_name():
    with pytest.raises(ValueError, match=r"unknown device 'meta' \(from the name argument\)"):
        get_device(torch.device("meta"))
    with pytest.raises(ValueError, match=r"unknown device 'meta'"):
        describe_device(torch.device("meta"))


def test_a_device_of_another_type_is_a_clear_error():
    with pytest.raises(TypeError, match=r"string or a torch.device, got int 0"):
        get_device(0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:0", torch.device("cuda")], ids=str)
def test_describing_cuda_without_cuda_is_a_clear_error(name):
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        describe_device(name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_describe_cuda_names_the_gpu():
    line = describe_device(torch.device("cuda"))
    assert line.startswith("cuda:0 (") and torch.cuda.get_device_name(0) in line
    assert line == describe_device("cuda:0")


def test_describing_mps_needs_mps(monkeypatch):
    monkeypatch.setattr(device_module, "_mps_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"'mps'.*MPS is not available"):
        describe_device("mps")
    monkeypatch.setattr(device_module, "_mps_available", lambda: True)
    assert describe_device("mps") == "mps (Apple silicon GPU)"
