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
