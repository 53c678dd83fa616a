"""Messages about a missing extra say the exact install command for this kind of install."""

from fakes import REPO
from initkit import extras


def test_a_checkout_gets_its_own_path_and_an_installed_kit_the_package_name(tmp_path, monkeypatch):
    assert extras.install_command("audit") == f'pip install -e "{REPO}[audit]"'
    installed = tmp_path / "site-packages" / "initkit" / "extras.py"
    installed.parent.mkdir(parents=True)
    monkeypatch.setattr(extras, "__file__", str(installed))
    assert extras.install_command("dask") == 'pip install "initkit[dask]"'
