"""Fixtures shared by the app's integration tests."""

from __future__ import annotations

import app_support as support
import pytest
import streamlit as st


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """The seeded store (tests/app_support.py), with Streamlit's data cache cleared."""
    root, ids = support.shared_store(tmp_path_factory.getbasetemp())
    with support.inside(root):
        st.cache_data.clear()
        yield root, ids
