import type { Child, FC } from "hono/jsx";

/**
 * A table of the pages: framed, scrolling sideways on its own when the
 * screen is narrow. `columns` are the header cells; the children, the rows.
 */
export const Table: FC<{ columns: Child[]; caption?: string; children?: Child }> = ({ columns, caption, children }) => (
  <div class="table-wrap">
    <table>
      {caption ? <caption class="sr-only">{caption}</caption> : null}
      <thead>
        <tr>
          {columns.map((column) => (
            <th scope="col">{column}</th>
          ))}
        </tr>
      </thead>
      <tbody>{children}</tbody>
    </table>
  </div>
);
