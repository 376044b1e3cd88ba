/**
 * A notebook of one markdown cell as Jupyter Server's contents API takes it in a PUT (the model
 * JupyterLab sends when it saves), for the journey's saves through the REST API and the browser.
 */
export function markdownNotebook(cellId: string, text: string) {
  return {
    type: "notebook",
    format: "json",
    content: {
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: [{ cell_type: "markdown", id: cellId, metadata: {}, source: text }],
    },
  };
}
