from lairs_etl.dagster.components.layers.component import LayersComponent

__all__ = ["LayersComponent"]
