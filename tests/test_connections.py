"""Connections arrive as URIs (environment) or as Airflow's parsed fields (tasks); both must work."""

from pipeline.connections import base_url, credentials, database_url


def test_http_connections_in_both_shapes():
    assert base_url({"uri": "http://id:secret@127.0.0.1:8080"}) == "http://127.0.0.1:8080"
    # What Airflow's parser makes of http://… (no schema) and of https://… (the scheme lands in conn_type).
    assert base_url({"conn_type": "http", "host": "127.0.0.1", "port": 8080, "schema": ""}) == "http://127.0.0.1:8080"
    assert base_url({"conn_type": "https", "host": "gw.example", "port": None, "schema": ""}) == "https://gw.example"
    assert base_url({"conn_type": "http", "host": "gw.example", "schema": "https"}) == "https://gw.example"
    fields = {"conn_type": "http", "host": "h", "login": "app", "password": "s3cr%t"}
    assert credentials(fields, "hmac_signed") == {"app_id": "app", "app_secret": "s3cr%t"}
    assert credentials({"uri": "http://cid:s%40cret@h"}, "bearer_client_credentials") == \
        {"client_id": "cid", "client_secret": "s@cret"}


def test_database_connections_in_both_shapes():
    assert database_url({"uri": "mysql+pymysql://r:pw@db:3306/medins"}) == "mysql+pymysql://r:pw@db:3306/medins"
    assert database_url({"conn_type": "mysql", "host": "db", "port": 3306, "schema": "medins", "login": "r",
                         "password": "pw"}) == "mysql+pymysql://r:pw@db:3306/medins"
    # Airflow parses sqlite:////abs/medins.db with the path in schema.
    assert database_url({"conn_type": "sqlite", "host": "", "schema": "/abs/medins.db"}) == "sqlite:////abs/medins.db"
