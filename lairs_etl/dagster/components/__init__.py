from lairs_etl.dagster.components.layers import LayersComponent

__all__ = ["LayersComponent"]
