"""The plugin mounts /archive and lists it in the UI's nav; every API route of the page asks the auth manager."""


def test_the_archive_page_is_mounted_in_the_nav_and_each_api_route_is_authorized():
    from archiveflow_plugin import ArchiveflowPlugin

    plugin = ArchiveflowPlugin()
    (view,) = plugin.external_views
    assert (view["name"], view["url_route"], view["destination"]) == ("Archive", "archive", "nav")
    assert not view["href"].startswith("/")  # relative to the UI's base URL (MWAA serves it under a path)
    app = next(a for a in plugin.fastapi_apps if a["url_prefix"] == "/archive")["app"]
    api = {route.path: route for route in app.routes if route.path.startswith("/api/")}
    assert set(api) == {"/api/me", "/api/files", "/api/bundles", "/api/quote", "/api/savings", "/api/tables",
                        "/api/restores", "/api/restores/{run_id}", "/api/restores/{run_id}/download"}
    for path, route in api.items():
        names = {d.call.__name__ for d in route.dependant.dependencies if d.call}
        assert names & {"inner", "get_user"}, f"{path} asks nobody who the user is"


def test_without_a_catalog_the_page_says_how_to_make_one():
    """The `dynamodb` index mode with no catalog yet: 409 naming the migration, and no query is run."""
    from types import SimpleNamespace

    import pytest
    from fastapi import HTTPException

    from archiveflow.api.archive import MIGRATE_HINT, CatalogReader

    queries = []
    hook = SimpleNamespace(_iceberg=SimpleNamespace(catalog=SimpleNamespace(table_exists=lambda identifier: False)),
                           select=lambda *args: queries.append(args), engine="duckdb")
    reader = CatalogReader()
    reader._hook = hook
    with pytest.raises(HTTPException) as refused:
        reader.select("deep_archive/catalog_search.sql", {})
    assert refused.value.status_code == 409 and refused.value.detail == MIGRATE_HINT
    assert "migrate_index --to catalog" in MIGRATE_HINT
    reader.warm()  # nothing to open either
    assert queries == []
