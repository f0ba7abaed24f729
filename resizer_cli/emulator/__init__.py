"""Local emulator: moto server on loopback plus a Lambda runtime that runs the deployed zip."""
