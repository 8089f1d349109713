"""The bundle's botocore session (core/clients.py): its loader knows the services the bundle calls
instead of listing botocore/data, and still reads every model from botocore's own data."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import botocore
import botocore.exceptions
import botocore.loaders
import pytest
from platform_monitoring.core import clients

SHARED = Path(clients.__file__).resolve().parents[1]


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    return clients._botocore_session.__wrapped__()  # a fresh one: the cached one is the process's


def test_the_loader_lists_the_services_of_aws_attempts_and_loads_their_models(session: Any) -> None:
    loader = session.get_component("data_loader")
    assert loader.list_available_services("service-2") == sorted(clients.AWS_ATTEMPTS)
    for service in clients.AWS_ATTEMPTS:
        model = loader.load_service_model(service, "service-2")
        assert model["metadata"]["endpointPrefix"], service  # botocore's own model, not a stand-in
        assert loader.load_service_model(service, "endpoint-rule-set-1")["version"], service


def test_a_client_is_built_for_each_service_and_another_service_is_refused_by_name(session: Any) -> None:
    for service in clients.AWS_ATTEMPTS:
        client = session.create_client(service)
        assert client.meta.service_model.service_name == service
    with pytest.raises(botocore.exceptions.UnknownServiceError, match="dynamodb, ses, sns, sqs, wafv2"):
        session.create_client("s3")


def test_the_search_paths_are_botocores_with_aws_data_path_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    session = clients._botocore_session.__wrapped__()
    paths = session.get_component("data_loader").search_paths
    stock = botocore.loaders.create_loader(str(tmp_path)).search_paths
    assert paths == stock and paths[0] == str(tmp_path)


def test_the_file_loader_reads_what_botocores_reads_in_the_same_order(session: Any, tmp_path: Path) -> None:
    ours, stock = session.get_component("data_loader").file_loader, botocore.loaders.JSONFileLoader()
    data = Path(botocore.__file__).parent / "data"
    for name in ("endpoints", "sqs/2012-11-05/service-2"):  # a .json file and a .json.gz one
        loaded = ours.load_file(str(data / name))
        assert type(loaded) is dict  # not botocore's OrderedDict, which is the slow part
        # json.dumps writes keys in their order: equal text is equal data in the same order throughout
        assert json.dumps(loaded) == json.dumps(stock.load_file(str(data / name)))
    assert ours.load_file(str(tmp_path / "missing")) is None


def test_every_service_the_library_asks_for_is_known() -> None:
    asked = {
        name
        for source in SHARED.rglob("*.py")
        for name in re.findall(r'_aws_client\(\s*"([a-z0-9-]+)"', source.read_text(encoding="utf-8"))
    }
    assert asked and asked <= set(clients.AWS_ATTEMPTS)
