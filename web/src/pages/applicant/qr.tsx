/** The platform's own QR code (SVG from svc-licences' presentations and data handles), scaled to its box. */
import { useLayoutEffect, useRef } from "preact/hooks";

export function QrCode(props: { svg: string; label: string }) {
  const box = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    // segno writes width and height but no viewBox: add one so CSS can scale the code to the box.
    const svg = box.current?.querySelector("svg");
    if (!svg) return;
    const width = svg.getAttribute("width");
    const height = svg.getAttribute("height");
    if (width && height && !svg.hasAttribute("viewBox")) svg.setAttribute("viewBox", `0 0 ${parseFloat(width)} ${parseFloat(height)}`);
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
  }, [props.svg]);
  // The SVG is the platform's own QR code (from the API's presentation/handle), never user content.
  return <div class="app-qr" role="img" aria-label={props.label} ref={box} dangerouslySetInnerHTML={{ __html: props.svg }} />;
}
