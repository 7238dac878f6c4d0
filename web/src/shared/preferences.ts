/** 适老化: a large-text mode, remembered on the device, that scales every size on the page. */
const KEY = "lvrong.large-text";

export function largeText(): boolean {
  return localStorage.getItem(KEY) === "1";
}

export function setLargeText(on: boolean): void {
  localStorage.setItem(KEY, on ? "1" : "0");
  document.documentElement.classList.toggle("large-text", on);
}

document.documentElement.classList.toggle("large-text", largeText());
