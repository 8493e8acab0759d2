import pytest

from robustbench_mllm.errors import UnknownNameError
from robustbench_mllm.registry import Registry


def test_register_get_and_list():
    reg: Registry[int] = Registry("widget")
    reg.register("frost")(1)
    reg.register("fog")(2)
    assert reg.get("fog") == 2
    assert reg.names() == ["fog", "frost"]
    assert "frost" in reg and len(reg) == 2


def test_unknown_name_suggests_close_match():
    reg: Registry[int] = Registry("perturbation")
    reg.register("gaussian_noise")(1)
    with pytest.raises(UnknownNameError, match="Did you mean 'gaussian_noise'"):
        reg.get("gausian_noise")


def test_duplicate_registration_is_an_error():
    reg: Registry[int] = Registry("widget")
    reg.register("a")(1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(2)
