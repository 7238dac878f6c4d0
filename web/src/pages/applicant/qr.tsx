/** The platform's own QR code (SVG from svc-licences' presentations and data handles), scaled to its box. */
import { useLayoutEffect, useRef } from "preact/hooks";
import { t } from "../../shared/i18n";

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

/** The seconds a shown code has left, counted down on the page; it is renewed before it expires. */
export function Countdown(props: { seconds: number }) {
  return (
    <p class="app-countdown">
      {props.seconds > 0
        ? t(`${props.seconds} 秒后失效，到期前自动更新`, `Expires in ${props.seconds} s; renewed automatically before then`)
        : t("已失效，正在更新", "Expired; renewing")}
    </p>
  );
}
