/** Where a QR's text comes from: the camera (jsQR on video frames), a picture of a QR, or typed/pasted —
 * the verifier's 亮证 QR and the workbench's 一人（企）一码 alike (each page names what is scanned). */
import jsQR from "jsqr";
import { useEffect, useRef, useState } from "preact/hooks";
import { t, useLanguage } from "./i18n";

/** The text of the first QR code in an image (a picture file or a video frame); null when none is found. */
export function decodeImage(source: CanvasImageSource, width: number, height: number, canvas: HTMLCanvasElement): string | null {
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  if (!context) return null;
  context.drawImage(source, 0, 0, width, height);
  const pixels = context.getImageData(0, 0, width, height);
  return jsQR(pixels.data, width, height, { inversionAttempts: "dontInvert" })?.data ?? null;
}

export interface ScannerTexts {
  title: string;
  paste: string;
  submit: string;
}

export function Scanner(props: { onText: (text: string) => void; busy: boolean; texts?: ScannerTexts }) {
  useLanguage();
  const texts = props.texts ?? {
    title: t("扫描亮证码", "Scan a licence QR"),
    paste: t("或粘贴亮证码（LR1: 或 LS1: 开头）", "Or paste the QR text (starting with LR1: or LS1:)"),
    submit: t("核验", "Verify"),
  };
  const [text, setText] = useState("");
  const [camera, setCamera] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const video = useRef<HTMLVideoElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);

  useEffect(() => {
    if (!camera) return;
    let stream: MediaStream | null = null;
    let frame = 0;
    let stopped = false;
    const scan = () => {
      if (stopped) return;
      const v = video.current;
      if (v && canvas.current && v.readyState >= 2 && v.videoWidth) {
        const found = decodeImage(v, v.videoWidth, v.videoHeight, canvas.current);
        if (found) {
          setCamera(false);
          props.onText(found);
          return;
        }
      }
      frame = requestAnimationFrame(scan);
    };
    navigator.mediaDevices?.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then((s) => {
      stream = s;
      if (stopped || !video.current) return s.getTracks().forEach((track) => track.stop());
      video.current.srcObject = s;
      video.current.play().catch(() => undefined);
      frame = requestAnimationFrame(scan);
    }).catch(() => {
      setCamera(false);
      setNotice(t("无法打开摄像头，请上传二维码图片或粘贴码的文本。", "The camera could not be opened; upload a picture of the QR or paste its text."));
    });
    return () => {
      stopped = true;
      cancelAnimationFrame(frame);
      stream?.getTracks().forEach((track) => track.stop());
    };
  }, [camera]);

  async function picture(event: Event) {
    const input = event.currentTarget as HTMLInputElement;
    const file = input.files?.[0];
    if (!file || !canvas.current) return;
    setNotice(null);
    try {
      const bitmap = await createImageBitmap(file);
      const found = decodeImage(bitmap, bitmap.width, bitmap.height, canvas.current);
      bitmap.close();
      if (found) props.onText(found);
      else setNotice(t("图片中未找到二维码。", "No QR code was found in the picture."));
    } catch {
      setNotice(t("无法读取该图片。", "The picture could not be read."));
    }
    input.value = "";
  }

  function submit(event: Event) {
    event.preventDefault();
    if (text.trim()) props.onText(text.trim());
  }

  return (
    <section class="card verify-input" aria-labelledby="scan-title">
      <h2 id="scan-title">{texts.title}</h2>
      <div class="actions">
        <button type="button" class="primary" aria-pressed={camera} onClick={() => { setNotice(null); setCamera(!camera); }}>
          {camera ? t("关闭摄像头", "Stop the camera") : t("用摄像头扫码", "Scan with the camera")}
        </button>
      </div>
      {camera && <video ref={video} class="verify-video" muted playsInline aria-label={t("摄像头画面", "Camera view")} />}
      <canvas ref={canvas} class="verify-canvas" aria-hidden="true" />
      <label for="verify-picture">{t("或上传二维码图片", "Or upload a picture of the QR")}</label>
      <input id="verify-picture" type="file" accept="image/*" onChange={picture} />
      <form onSubmit={submit}>
        <label for="verify-text">{texts.paste}</label>
        <textarea id="verify-text" rows={3} spellcheck={false} autocomplete="off" value={text}
          onInput={(e) => setText(e.currentTarget.value)} />
        <div class="actions">
          <button type="submit" class="primary" disabled={props.busy || !text.trim()}>{texts.submit}</button>
        </div>
      </form>
      {notice && <p class="verify-notice" role="status">{notice}</p>}
    </section>
  );
}
