"""Marker so setuptools can ship layer/requirements.txt as package data."""
