/**
 * Grafana's published dashboard schema (@grafana/schema: the classic dashboard model that file
 * provisioning reads), as it looks in JSON.
 *
 * Why the mapping: the schema declares some fields as TypeScript string enums (e.g. ThresholdsMode),
 * which a plain string from a JSON file can never satisfy. Json<T> turns each enum into the union of
 * its literal values and keeps everything else (required fields, nesting, excess-property checks),
 * so the committed JSON files are checked against the schema itself, not against a copy of it.
 */
import type { Dashboard, Panel, RowPanel, VariableModel, DataSourceRef } from '@grafana/schema';

export type Json<T> =
  T extends string ? (string extends T ? string : `${T}`)
  : T extends number | boolean | null | undefined ? T
  : T extends Array<infer U> ? Array<Json<U>>
  : T extends object ? { [K in keyof T]: Json<T[K]> }
  : T;

export type DashboardJson = Json<Dashboard>;
export type PanelJson = Json<Panel>;
export type RowPanelJson = Json<RowPanel>;
export type VariableJson = Json<VariableModel>;
export type DataSourceRefJson = Json<DataSourceRef>;
